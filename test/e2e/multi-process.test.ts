import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOtpIssuer } from "../../src/domain/otp/challenges.js";
import { cryptoRandom } from "../../src/domain/otp/secrets.js";
import { connectDatabase, type Database, type PrismaClient } from "../../src/persistence/database.js";
import { createStore } from "../../src/persistence/store.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { inspectionClient } from "../support/gateway.js";
import { type GatewayProcess, startGatewayProcess } from "../support/process.js";

// Several gateway processes on one PostgreSQL database, as production runs them behind a load balancer.
// On the run's server: TEST_DATABASE_URL's, or the embedded server the tests start.

const ISSUER = "https://issuer.test";
let database: TestDatabase;
let dir: string;
let key: CryptoKey;
let gateways: GatewayProcess[];
let prisma: PrismaClient;
let connection: Database;
let receiver: {
  url: string;
  codes: Map<string, string>;
  hold: boolean;
  held: (() => void)[];
  arrived: (() => void)[];
  server: Server;
};
let n = 0;

async function token(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: "openid profile", client_id: "web" })
    .setProtectedHeader({ alg: "ES256", kid: "test-key" })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key);
}

async function call(gateway: GatewayProcess, method: string, path: string, sub: string, body?: unknown) {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token(sub)}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A request with extra headers; the answer's status, headers and body text. */
async function exchange(
  gateway: GatewayProcess,
  method: string,
  path: string,
  sub: string,
  body: unknown,
  headers: Record<string, string>,
) {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token(sub)}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** An update_userinfo challenge made with the domain's issuing function, on the shared database. */
async function challenge(channel: "email" | "sms", target: string, sub: string) {
  const issue = createOtpIssuer({
    otps: createStore(connection).otps,
    clock: { now: () => new Date() },
    random: cryptoRandom,
  });
  const issued = await issue({ channel, target, usage: "update_userinfo", clientId: "web", userSub: sub });
  return { token: issued.otpToken, code: issued.code };
}

const environment = () => ({
  DATABASE_URL: database.url,
  DATA_DIR: mkdtempSync(join(dir, "data-")),
  NODE_ENV: "production",
  AUTH_JWKS_FILE: join(dir, "jwks.json"),
  AUTH_ISSUER: ISSUER,
  OTP_DELIVERY: "webhook",
  OTP_WEBHOOK_URL: receiver.url,
  OTP_WEBHOOK_SECRET: "s3cret-webhook-key",
  OTP_WEBHOOK_TIMEOUT_MS: "2000",
  DATABASE_POOL_SIZE: "4",
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "multi-process-"));
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  writeFileSync(
    join(dir, "jwks.json"),
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "test-key", alg: "ES256", use: "sig" }] }),
  );
  const codes = new Map<string, string>();
  receiver = { url: "", codes, hold: false, held: [], arrived: [], server: undefined as unknown as Server };
  receiver.server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const payload = JSON.parse(body) as { to: string; code: string };
      codes.set(payload.to, payload.code);
      for (const notify of receiver.arrived.splice(0)) notify();
      if (receiver.hold) receiver.held.push(() => res.writeHead(204).end());
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/otp`;
  database = await createTestDatabase();
  // (e) Three processes start at the same moment on an empty database.
  gateways = await Promise.all([0, 1, 2].map(() => startGatewayProcess(environment())));
  prisma = inspectionClient(database.url);
  connection = connectDatabase(database.url, 2);
});

afterAll(async () => {
  await Promise.all((gateways ?? []).map((g) => g.stop("SIGKILL")));
  await prisma?.$disconnect();
  await connection?.close();
  await database?.close();
  receiver?.server.closeAllConnections();
  receiver?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("several gateway processes on one PostgreSQL", () => {
  it("(e) applied each migration once when they started together", async () => {
    const rows = await prisma.$queryRaw<{ migration_name: string; count: bigint }[]>`
      SELECT migration_name, count(*) AS count FROM "_prisma_migrations" GROUP BY migration_name`;
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => Number(r.count) === 1)).toBe(true);
    for (const gateway of gateways) expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
  });

  it("(a) lets exactly one of many concurrent claims of one email win, across processes", async () => {
    const email = `race-${++n}@example.com`;
    const subs = Array.from({ length: 12 }, (_, i) => `racer-${n}-${i}`);
    const otps = await Promise.all(subs.map((sub) => challenge("email", email, sub)));
    const results = await Promise.all(
      subs.map((sub, i) =>
        call(gateways[i % gateways.length]!, "PATCH", "/userinfo", sub, {
          email,
          email_otp_token: otps[i]!.token,
          email_otp: otps[i]!.code,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error === "duplicate_email")).toHaveLength(subs.length - 1);
    expect(await prisma.user.count({ where: { email } })).toBe(1);
    const winner = subs[results.findIndex((r) => r.status === 200)]!;
    expect(await prisma.otpChallenge.count({ where: { target: email, consumedAt: { not: null } } })).toBe(1);
    expect(
      (await prisma.otpChallenge.findFirst({ where: { target: email, consumedAt: { not: null } } }))?.userSub,
    ).toBe(winner);
  });

  it("(a) the same for a phone number", async () => {
    const phone = `1770000${String(1000 + ++n).slice(-4)}`;
    const subs = Array.from({ length: 8 }, (_, i) => `phone-racer-${n}-${i}`);
    const otps = await Promise.all(subs.map((sub) => challenge("sms", phone, sub)));
    const results = await Promise.all(
      subs.map((sub, i) =>
        call(gateways[i % 2]!, "PATCH", "/userinfo", sub, {
          phone_number: phone,
          phone_number_otp_token: otps[i]!.token,
          phone_number_otp: otps[i]!.code,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error === "duplicate_phone_number")).toHaveLength(subs.length - 1);
  });

  it("(b) accepts one OTP token at most once when it reaches every process at once", async () => {
    const sub = `single-use-${++n}`;
    const email = `${sub}@example.com`;
    const otp = await challenge("email", email, sub);
    const body = { email, email_otp_token: otp.token, email_otp: otp.code };
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) => call(gateways[i % 3]!, "PATCH", "/userinfo", sub, body)),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error === "bad_email_otp_token")).toHaveLength(8);
  });

  it("(b) counts wrong codes from every process: a burned token stays burned", async () => {
    const sub = `burn-${++n}`;
    const email = `${sub}@example.com`;
    const otp = await challenge("email", email, sub);
    const wrong = { email, email_otp_token: otp.token, email_otp: otp.code === "000000" ? "111111" : "000000" };
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(gateways[i % 2]!, "PATCH", "/userinfo", sub, wrong)),
    );
    expect(results.filter((r) => r.body.error === "bad_email_otp")).toHaveLength(5);
    expect(results.filter((r) => r.body.error === "bad_email_otp_token")).toHaveLength(3);
    const right = await call(gateways[2]!, "PATCH", "/userinfo", sub, { ...wrong, email_otp: otp.code });
    expect(right.body).toEqual({ error: "bad_email_otp_token" });
  });

  it("(c) holds the per-target send limit across processes", async () => {
    const sub = `sender-${++n}`;
    const email = `${sub}@example.com`;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(gateways[i % 3]!, "POST", "/otp/send", sub, { usage: "update_userinfo", email }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error === "email_rate_limit_exceeded")).toHaveLength(5);
    // The code delivered by one process proves the address through another.
    const sent = results.find((r) => r.status === 200)!;
    const patched = await call(gateways[1]!, "PATCH", "/userinfo", sub, {
      email,
      email_otp_token: sent.body.otp_token,
      email_otp: receiver.codes.get(email),
    });
    expect(patched.body).toMatchObject({ email, email_verified: true });
  });

  it("(d) loses nothing when different attributes of one user change concurrently in different processes", async () => {
    const sub = `concurrent-${++n}`;
    await call(gateways[0]!, "GET", "/userinfo", sub);
    const updates = [{ name: "Name" }, { nickname: "Nick" }, { zoneinfo: "Europe/Paris" }, { locale: "fr-FR" }];
    const results = await Promise.all(
      updates.flatMap((u, i) => [call(gateways[i % 3]!, "PATCH", "/userinfo", sub, u)]),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const row = await prisma.user.findUnique({ where: { sub } });
    expect(row).toMatchObject({
      name: "Name",
      nickname: "Nick",
      zoneinfo: "Europe/Paris",
      locale: "fr-FR",
      version: 1 + updates.length,
    });
    expect(await prisma.auditEvent.count({ where: { sub } })).toBe(updates.length);
  });

  it("serves metrics and logs requests with ids, never tokens or codes", async () => {
    const metrics = await (await fetch(`${gateways[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/http_requests_total\{method="PATCH",route="\/userinfo",status="200"\} [1-9]/);
    expect(metrics).toMatch(
      /http_request_duration_seconds_bucket\{le="0.05",method="PATCH",route="\/userinfo",status="200"\}/,
    );
    const all = gateways.map((g) => g.output()).join("\n");
    expect(all).toMatch(/"requestId":"[0-9a-f-]{36}".*"route":"\/userinfo"/);
    for (const code of receiver.codes.values()) expect(all).not.toContain(`"${code}"`);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(all).not.toContain("s3cret-webhook-key");
    const otpMetrics = (await Promise.all(gateways.map(async (g) => (await fetch(`${g.url}/metrics`)).text()))).join(
      "\n",
    );
    expect(otpMetrics).toMatch(/otp_sends_total\{channel="email"\} 1/);
  });
});

describe("faults", () => {
  it("answers 503 while the database connections are killed, writes nothing partial, and recovers", async () => {
    const sub = `fault-${++n}`;
    await call(gateways[0]!, "GET", "/userinfo", sub);
    const statuses: number[] = [];
    const bodies: Record<string, unknown>[] = [];
    let killed = false;
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const worker = async (w: number) => {
      for (let i = 0; i < 25; i++) {
        const value = `v${w}-${i}`;
        const result = await call(gateways[(w + i) % 2]!, "PATCH", "/userinfo", sub, { name: value, nickname: value });
        statuses.push(result.status);
        if (result.status !== 200) bodies.push(result.body);
        if (!killed && statuses.length >= 40) {
          killed = true;
          await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
          );
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    await admin.end();
    expect(killed).toBe(true);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(bodies.every((b) => b.error === "temporarily_unavailable")).toBe(true);
    const row = await prisma.user.findUnique({ where: { sub } });
    expect(row?.name).toBe(row?.nickname);
    expect(await prisma.auditEvent.count({ where: { sub } })).toBe(row!.version - 1);
    // Both processes are still up and serve again without a restart.
    for (const gateway of gateways.slice(0, 2)) {
      expect(gateway.child.exitCode).toBeNull();
      await expect
        .poll(async () => (await call(gateway, "PATCH", "/userinfo", sub, { nickname: "after" })).status, {
          timeout: 10_000,
        })
        .toBe(200);
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    }
  });

  it("does not hold a request beyond the webhook timeout when the receiver hangs", async () => {
    receiver.hold = true;
    try {
      const gateway = gateways[1]!;
      const started = Date.now();
      const result = await call(gateway, "POST", "/otp/send", `hang-${++n}`, {
        usage: "update_userinfo",
        email: `hang-${n}@example.com`,
      });
      expect(result).toEqual({
        status: 503,
        body: { error: "temporarily_unavailable", error_description: "Failed to send OTP. Please try again later." },
      });
      // The timeout is 2 s; nothing else in this request takes long.
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      receiver.hold = false;
      for (const release of receiver.held.splice(0)) release();
    }
  });

  it("5.1: of two concurrent PATCHes with the same If-Match on two processes, exactly one wins", async () => {
    for (let round = 0; round < 5; round++) {
      const sub = `if-match-${++n}`;
      expect((await call(gateways[0]!, "PATCH", "/userinfo", sub, { nickname: "start" })).status).toBe(200);
      const results = await Promise.all(
        [0, 1].map((i) =>
          exchange(gateways[i]!, "PATCH", "/userinfo", sub, { nickname: `by-${i}` }, { "if-match": '"1"' }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      const row = await prisma.user.findUniqueOrThrow({ where: { sub } });
      expect(row.version).toBe(2);
      expect(row.nickname).toBe(JSON.parse(results.find((r) => r.status === 200)!.text).nickname);
    }
  });

  it("5.2: a key in use on one process is 409 on another; then every process replays the kept answer", async () => {
    const sub = `idempotent-${++n}`;
    const body = { usage: "update_userinfo", email: `${sub}@example.com` };
    const key = { "idempotency-key": `key-${sub}` };
    receiver.hold = true;
    const arrived = new Promise<void>((resolve) => receiver.arrived.push(resolve));
    const first = exchange(gateways[0]!, "POST", "/otp/send", sub, body, key);
    try {
      await arrived;
      const busy = await exchange(gateways[1]!, "POST", "/otp/send", sub, body, key);
      expect(busy.status).toBe(409);
      expect(JSON.parse(busy.text)).toEqual({
        error: "invalid_request",
        error_description: "A request with this Idempotency-Key is being processed.",
      });
    } finally {
      receiver.hold = false;
      for (const release of receiver.held.splice(0)) release();
    }
    const done = await first;
    expect(done.status).toBe(200);
    for (const gateway of gateways.slice(0, 2)) {
      const replay = await exchange(gateway, "POST", "/otp/send", sub, body, key);
      expect(replay.text).toBe(done.text);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
    }
    expect(await prisma.otpChallenge.count({ where: { userSub: sub } })).toBe(1);
  });

  it("finishes in-flight requests on SIGTERM, then exits 0", async () => {
    const gateway = gateways[2]!;
    receiver.hold = true;
    const arrived = new Promise<void>((resolve) => receiver.arrived.push(resolve));
    const inFlight = call(gateway, "POST", "/otp/send", `graceful-${++n}`, {
      usage: "update_userinfo",
      email: `graceful-${n}@example.com`,
    });
    await arrived;
    const exited = gateway.stop("SIGTERM");
    await expect.poll(() => gateway.output()).toContain('"msg":"shutting down"');
    // Draining: readiness is withdrawn while the request finishes (or the listener is already closed).
    const ready = await fetch(`${gateway.url}/readyz`).then(
      (r) => r.status,
      () => "closed",
    );
    expect([503, "closed"]).toContain(ready);
    receiver.hold = false;
    for (const release of receiver.held.splice(0)) release();
    expect((await inFlight).status).toBe(200);
    expect(await exited).toBe(0);
  });
});
