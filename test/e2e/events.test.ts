import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrismaClient } from "../../src/persistence/database.js";
import { eventually, freePort } from "../support/child.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { inspectionClient } from "../support/gateway.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { cli, type GatewayProcess, startGatewayProcess } from "../support/process.js";
import { EVENTS_SECRET, type ReceivedEvent, startEventsReceiver } from "../support/receivers.js";

// Change events from real gateway processes (SPEC 5.4): a SIGKILL right after a commit loses nothing, two processes
// deliver each event once and each user's in order, and the CLI lists and redelivers.

const ISSUER = "https://issuer.test";
let database: TestDatabase;
let dir: string;
let issuer: TestIssuer;
let prisma: PrismaClient;
let receiverPort: number;
let receiver: Awaited<ReturnType<typeof startEventsReceiver>> | undefined;
const gateways: GatewayProcess[] = [];

async function patch(gateway: GatewayProcess, sub: string, body: unknown) {
  const response = await fetch(`${gateway.url}/userinfo`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${await issuer.token(sub)}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.text();
  return response.status;
}

const environment = () => ({
  DATABASE_URL: database.url,
  DATA_DIR: mkdtempSync(join(dir, "data-")),
  AUTH_JWKS_FILE: issuer.jwksFile,
  AUTH_ISSUER: ISSUER,
  EVENTS_WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/events`,
  EVENTS_WEBHOOK_SECRET: EVENTS_SECRET,
  EVENTS_WEBHOOK_TIMEOUT_MS: "2000",
  OTP_WEBHOOK_TIMEOUT_MS: "2000",
  DATABASE_POOL_SIZE: "4",
});

async function start() {
  const gateway = await startGatewayProcess(environment());
  gateways.push(gateway);
  return gateway;
}

const dataOf = (event: ReceivedEvent) => (event.verified as { data: { sub: string; version: number } }).data;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "events-e2e-"));
  issuer = await createTestIssuer(dir, ISSUER);
  database = await createTestDatabase();
  prisma = inspectionClient(database.url);
  receiverPort = await freePort();
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop("SIGKILL")));
  await receiver?.close();
  await prisma?.$disconnect();
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("change events from gateway processes", () => {
  it("delivers after a restart what a gateway killed with SIGKILL right after the commit had not sent", async () => {
    const first = await start();
    // The receiver is down: nothing can be delivered before the kill.
    expect(await patch(first, "killed-1", { nickname: "before the kill" })).toBe(200);
    expect(await first.stop("SIGKILL")).toBeNull();
    const [row] = await prisma.outboxEvent.findMany({ where: { sub: "killed-1" } });
    expect(row?.status).toBe("pending");

    receiver = await startEventsReceiver(() => 204, EVENTS_SECRET, receiverPort);
    const second = await start();
    await eventually(async () => receiver!.accepted.length === 1);
    expect(receiver.accepted[0]!.id).toBe(row!.id);
    expect(dataOf(receiver.accepted[0]!)).toMatchObject({ sub: "killed-1", version: 1 });
    await eventually(
      async () => (await prisma.outboxEvent.findUnique({ where: { id: row!.id } }))?.status === "delivered",
    );
    await second.stop("SIGTERM");
  });

  it("two processes deliver each event once, each user's events in version order", async () => {
    receiver!.accepted.length = 0;
    receiver!.received.length = 0;
    const [a, b] = await Promise.all([start(), start()]);
    const users = Array.from({ length: 10 }, (_, i) => `pair-${i}`);
    for (let round = 0; round < 4; round++) {
      const statuses = await Promise.all(
        users.map((sub, i) => patch(i % 2 === round % 2 ? a : b, sub, { nickname: `n${round}` })),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
    await eventually(async () => receiver!.accepted.length >= 40);
    // Nothing more arrives: each once.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const ids = receiver!.received.map((e) => e.id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    for (const sub of users) {
      expect(
        receiver!.accepted
          .map(dataOf)
          .filter((d) => d.sub === sub)
          .map((d) => d.version),
      ).toEqual([1, 2, 3, 4]);
    }
    expect(await prisma.outboxEvent.count({ where: { status: { not: "delivered" } } })).toBe(0);
  });

  it("the CLI lists events, redelivers a dead one, and its user creation is an event too", async () => {
    const env = environment();
    const created = await cli(["users", "add", "cli-user", "--name", "Cli"], env);
    expect(created).toMatchObject({ code: 0, stdout: "user cli-user created\n" });
    await eventually(async () => receiver!.accepted.some((e) => dataOf(e).sub === "cli-user"));

    const [row] = await prisma.outboxEvent.findMany({ where: { sub: "cli-user" } });
    // As if it had failed for 24 hours.
    await prisma.outboxEvent.update({ where: { id: row!.id }, data: { status: "dead", lastError: "answered 500" } });
    const dead = await cli(["events", "list", "--status", "dead"], env);
    expect(dead.code).toBe(0);
    const lines = dead.stdout.trim().split("\n");
    expect(lines[0]).toBe("id\ttype\tsub\tversion\tstatus\tattempts\tcreated\tnext attempt\tlast error");
    expect(lines.slice(1).map((l) => l.split("\t").slice(0, 5))).toEqual([
      [row!.id, "user.updated", "cli-user", "1", "dead"],
    ]);
    expect(lines[1]!.endsWith("\tanswered 500")).toBe(true);

    const before = receiver!.accepted.filter((e) => e.id === row!.id).length;
    const redelivered = await cli(["events", "redeliver", row!.id], env);
    expect(redelivered).toMatchObject({ code: 0 });
    expect(redelivered.stdout).toContain(`event ${row!.id} is pending again`);
    await eventually(async () => receiver!.accepted.filter((e) => e.id === row!.id).length === before + 1);

    expect(await cli(["events", "list", "--status", "lost"], env)).toMatchObject({
      code: 1,
      stderr: "error: --status must be pending, delivered or dead\n",
    });
    const unknown = await cli(["events", "redeliver", "00000000-0000-4000-8000-000000000000"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no dead or delivered event 00000000-0000-4000-8000-000000000000");
  });
});
