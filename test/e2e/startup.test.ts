import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Child, eventually, spawnChild, startArguments } from "../support/child.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { checkedFetch } from "../support/openapi.js";
import { childEnv, runGatewayToExit } from "../support/process.js";

// How the gateway starts, or refuses to: the configuration guards of SPEC 6, .env, the CLI's development key, logs.

const ROOT = resolve(import.meta.dirname, "../..");
const FIX =
  'point AUTH_JWKS_FILE at your issuer\'s public keys (a JWKS JSON file: {"keys": [...]}), or use AUTH_JWKS_URL';
let dir: string;
let issuer: TestIssuer;
let database: TestDatabase;
const started: Child[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "userinfo-startup-"));
  // An embedded database server run as another user (as root: postgres) must get through to DATA_DIR inside.
  chmodSync(dir, 0o711);
  issuer = await createTestIssuer(dir);
  database = await createTestDatabase();
});
afterEach(() => {
  for (const { child } of started.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});
afterAll(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The gateway as `npm start` runs it, from `cwd`. */
function spawnGateway(env: Record<string, string>, cwd = ROOT): Child {
  const gateway = spawnChild(process.execPath, [...startArguments(ROOT).slice(0, -1), join(ROOT, "dist/main.js")], {
    cwd,
    env: childEnv({ PORT: "0", DATA_DIR: mkdtempSync(join(dir, "data-")), ...env }),
  });
  started.push(gateway);
  return gateway;
}

const listening = async (gateway: Child) =>
  (await gateway.waitFor(/"url":"(http:\/\/[^"]+)".*"msg":"gateway listening"/))[1]!;

/** The messages of the log lines at `level` (pino's numbers: 40 warn, 60 fatal). */
const messages = (output: string, level: number) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === level)
    .map((line) => line.msg);

describe("refusing to start, with exit 1 and the variable to fix", () => {
  it("an AUTH_JWKS_FILE that cannot be read, before the database is touched", async () => {
    const missing = join(dir, "no-such-jwks.json");
    const { code, output } = await runGatewayToExit({
      DATABASE_URL: database.url,
      AUTH_JWKS_FILE: missing,
      AUTH_ISSUER: issuer.issuer,
    });
    expect(code).toBe(1);
    expect(messages(output, 60)).toEqual([`AUTH_JWKS_FILE=${missing} cannot be read (ENOENT): ${FIX}`]);
    expect(output).not.toContain("migrations applied");
  });

  it("OTP_DELIVERY=log in production", async () => {
    const { code, output } = await runGatewayToExit({
      NODE_ENV: "production",
      DATABASE_URL: database.url,
      AUTH_JWKS_FILE: issuer.jwksFile,
      AUTH_ISSUER: issuer.issuer,
    });
    expect(code).toBe(1);
    expect(messages(output, 60)).toEqual([
      "refusing to start in production with OTP_DELIVERY=log (the default), which writes one-time codes to the log " +
        "instead of sending them: set OTP_DELIVERY=webhook (OTP_WEBHOOK_URL, OTP_WEBHOOK_SECRET) or OTP_DELIVERY=smtp " +
        "(SMTP_URL, SMTP_FROM), or ALLOW_LOG_DELIVERY=true to allow it explicitly",
    ]);
  });
});

describe("readiness and warnings", () => {
  it("a remote JWKS not fetched yet: /readyz 503 with the reason, then 200 once the issuer answers", async () => {
    let up = false;
    const jwksServer: Server = createServer((_req, res) => {
      if (up) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(issuer.jwks));
      else res.writeHead(503).end();
    });
    await new Promise<void>((done) => jwksServer.listen(0, "127.0.0.1", done));
    try {
      const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
      const gateway = spawnGateway({ DATABASE_URL: database.url, AUTH_JWKS_URL: jwksUrl, AUTH_ISSUER: issuer.issuer });
      const url = await listening(gateway);
      await gateway.waitFor(/"msg":"issuer keys not fetched yet from AUTH_JWKS_URL \(Expected 200 OK/);
      const notReady = await fetch(`${url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({
        status: "not_ready",
        reason:
          "issuer keys not fetched yet from AUTH_JWKS_URL (Expected 200 OK from the JSON Web Key Set HTTP response)",
      });
      up = true;
      await eventually(async () => (await fetch(`${url}/readyz`)).status === 200);
      const response = await checkedFetch(`${url}/userinfo`, {
        headers: { authorization: `Bearer ${await issuer.token("remote")}` },
      });
      expect(response.status).toBe(200);
    } finally {
      jwksServer.close();
    }
  });

  it("warns once for the embedded database in production", async () => {
    const gateway = spawnGateway({ NODE_ENV: "production", AUTH_DEV_ISSUER: "true", ALLOW_LOG_DELIVERY: "true" });
    await listening(gateway);
    expect(messages(gateway.output(), 40)).toContain(
      "NODE_ENV=production on the embedded database in DATA_DIR: it serves this one process only; set DATABASE_URL to a PostgreSQL server for production",
    );
    expect(gateway.output().match(/on the embedded database in DATA_DIR/g)).toHaveLength(1);
  }, 90_000);
});

describe(".env", () => {
  it("in the working directory completes the environment, which wins", async () => {
    const cwd = mkdtempSync(join(dir, "cwd-"));
    writeFileSync(join(cwd, ".env"), "JIT_PROVISIONING=false\nSHUTDOWN_TIMEOUT_MS=1234\n");
    const gateway = spawnGateway(
      {
        DATABASE_URL: database.url,
        AUTH_JWKS_FILE: issuer.jwksFile,
        AUTH_ISSUER: issuer.issuer,
        SHUTDOWN_TIMEOUT_MS: "4321",
      },
      cwd,
    );
    const url = await listening(gateway);
    expect(gateway.output()).toContain(
      `"file":"${join(cwd, ".env")}","msg":"configuration completed from .env (the environment wins)"`,
    );
    const response = await checkedFetch(`${url}/userinfo`, {
      headers: { authorization: `Bearer ${await issuer.token("nobody-yet")}` },
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "user_not_found" });
    gateway.child.kill("SIGTERM");
    expect((await gateway.exited).code).toBe(0);
    expect(gateway.output()).toContain('"signal":"SIGTERM","timeoutMs":4321,"msg":"shutting down"');
  });
});

describe("cli token", () => {
  /** The built CLI, `node dist/cli.js` (the source one, through tsx, is the other process tests' `cli`). */
  const cli = (args: string[], env: Record<string, string>) => {
    const result = spawnSync(process.execPath, [join(ROOT, "dist/cli.js"), ...args], {
      cwd: ROOT,
      env: childEnv(env),
      encoding: "utf8",
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it("refuses a DATA_DIR without the development key unless --create-key; the gateway there accepts the token", async () => {
    const dataDir = mkdtempSync(join(dir, "key-"));
    const refused = cli(["token", "keyed"], { DATA_DIR: dataDir });
    expect(refused).toEqual({
      code: 1,
      stdout: "",
      stderr:
        `error: no development key in DATA_DIR=${dataDir}: set DATA_DIR to the data directory of the gateway that should ` +
        "accept the token (it creates the key on its first start), or pass --create-key to create one there\n",
    });
    expect(existsSync(join(dataDir, "dev-issuer-key.json"))).toBe(false);
    const created = cli(["token", "keyed", "--create-key"], { DATA_DIR: dataDir });
    expect(created.code).toBe(0);
    const gateway = spawnGateway({ DATA_DIR: dataDir, DATABASE_URL: database.url });
    const url = await listening(gateway);
    const response = await checkedFetch(`${url}/userinfo`, {
      headers: { authorization: `Bearer ${created.stdout.trim()}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "keyed", updated_at: expect.any(Number) });
  });
});

describe("logs for people", () => {
  it("LOG_FORMAT=pretty writes readable lines", async () => {
    const gateway = spawnGateway({
      DATABASE_URL: database.url,
      AUTH_JWKS_FILE: issuer.jwksFile,
      AUTH_ISSUER: issuer.issuer,
      LOG_FORMAT: "pretty",
    });
    await gateway.waitFor(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): gateway listening \{"url":"http:\/\/127\.0\.0\.1:\d+","database":"postgresql"\}$/m,
    );
    expect(gateway.output()).not.toContain('"level":30');
  });

  it.skipIf(spawnSync("script", ["--version"]).status !== 0)("are readable on a terminal in development (auto)", () => {
    // `script` gives the gateway a pseudo-terminal; a bad PORT ends it at once with a fatal line.
    const command = [process.execPath, join(ROOT, "dist/main.js")].join(" ");
    const result = spawnSync("script", ["-qec", command, "/dev/null"], {
      env: childEnv({ PORT: "eighty" }),
      encoding: "utf8",
    });
    expect(result.status).toBe(1);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI colour codes pino-pretty writes start with ESC
    const plain = result.stdout.replace(/\u001b\[[0-9;]*m/g, "");
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] FATAL: invalid configuration: PORT: /m);
    expect(plain).not.toContain('"level"');
  });
});
