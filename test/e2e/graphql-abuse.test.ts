import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { startGatewayProcess, type GatewayProcess } from "../support/process.js";

// Unauthenticated documents built to exhaust the heap or the CPU, sent at once to a production gateway started as
// `npm start` starts it (heap cap included), with introspection on: it must refuse them and stay up for others.
describe("a production gateway under hostile GraphQL documents", () => {
  let database: TestDatabase;
  let dataDir: string;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), "userinfo-abuse-"));
    gateway = await startGatewayProcess({
      NODE_ENV: "production",
      AUTH_DEV_ISSUER: "true",
      ALLOW_LOG_DELIVERY: "true",
      GRAPHQL_INTROSPECTION: "true",
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
    });
  });
  afterAll(async () => {
    await gateway?.stop("SIGKILL");
    await database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const post = async (query: string) => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { message: string }[] } };
  };

  it("refuses deep, fragment-multiplied and wide documents, answers introspection, and stays up", async () => {
    const ofTypeChain = (name: string) => {
      let inner = "name";
      for (let i = 0; i < 640; i++) inner = `ofType{${inner}}`;
      return `query ${name}{__schema{types{${inner}}}}`;
    };
    const fragmentBomb = (name: string) =>
      `query ${name}{__schema{types{...S0}}} ` +
      Array.from({ length: 12 }, (_, i) => `fragment S${i} on __Type{name fields{type{...S${i + 1}}} interfaces{...S${i + 1}} possibleTypes{...S${i + 1}}}`).join(" ") +
      " fragment S12 on __Type{name}";
    const introspection = (name: string) => getIntrospectionQuery().replace("query IntrospectionQuery", `query ${name}`);
    // Distinct operation names: every document is parsed, validated and planned afresh (no cache helps).
    const hostile = Array.from({ length: 12 }, (_, i) => [ofTypeChain(`Deep${i}`), fragmentBomb(`Bomb${i}`)]).flat();
    const honest = Array.from({ length: 6 }, (_, i) => introspection(`Honest${i}`));

    const answers = await Promise.all([...hostile, ...honest].map(post));

    for (const refused of answers.slice(0, hostile.length)) {
      expect(refused.body.data).toBeUndefined();
      expect(refused.body.errors?.[0]?.message).toMatch(/limit of [0-9]+ exceeded|Maximum introspection depth exceeded/);
    }
    for (const answered of answers.slice(hostile.length)) {
      expect(answered.status).toBe(200);
      expect(answered.body.errors).toBeUndefined();
    }
    expect(gateway.child.exitCode).toBeNull();
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const rssKb = Number(execFileSync("ps", ["-o", "rss=", "-p", String(gateway.child.pid)]).toString().trim());
    expect(rssKb).toBeLessThan(400 * 1024);
  });
});
