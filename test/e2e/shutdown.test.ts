import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runningEmbeddedUrl } from "../../src/persistence/embedded.js";
import { type Child, eventually, isRunning, parentOf, spawnChild, startArguments } from "../support/child.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { childEnv } from "../support/process.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

// The shutdown contract (SPEC 6): SIGTERM / SIGINT -> not ready, no new connections, in-flight requests finish within
// SHUTDOWN_TIMEOUT_MS, exit 0; whatever still hangs 5 s later -> exit 1 with a log line; a second signal exits at once.

const ROOT = resolve(import.meta.dirname, "../..");
let dir: string;
let issuer: TestIssuer;
let database: TestDatabase;
const started: Child[] = [];
/** Gateways started by npm, to end if a test fails before they stop. */
const npmGateways: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "userinfo-shutdown-"));
  // An embedded database server run as another user (as root: postgres) must get through to DATA_DIR inside.
  chmodSync(dir, 0o711);
  issuer = await createTestIssuer(dir);
  database = await createTestDatabase();
});
afterEach(() => {
  for (const { child } of started.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const pid of npmGateways.splice(0)) if (isRunning(pid)) process.kill(pid, "SIGKILL");
});
afterAll(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the gateway as `npm start` runs it, with the tests' issuer; resolves once it listens. */
async function startGateway(env: Record<string, string>): Promise<{ gateway: Child; url: string }> {
  const gateway = spawnChild(process.execPath, startArguments(ROOT), {
    cwd: ROOT,
    env: childEnv({
      PORT: "0",
      DATA_DIR: mkdtempSync(join(dir, "data-")),
      DATABASE_URL: database.url,
      AUTH_JWKS_FILE: issuer.jwksFile,
      AUTH_ISSUER: issuer.issuer,
      ...env,
    }),
  });
  started.push(gateway);
  const [, url] = await gateway.waitFor(/"url":"(http:\/\/[^"]+)".*"msg":"gateway listening"/);
  return { gateway, url: url! };
}

const patch = async (url: string, sub: string) =>
  fetch(`${url}/userinfo`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${await issuer.token(sub)}`, "content-type": "application/json" },
    body: JSON.stringify({ nickname: `${sub}-nick` }),
  });

/** A session holding `table` locked until `release`, and one that counts the database's sessions. */
async function lockedTable(table: string) {
  const locker = new pg.Client({ connectionString: database.url });
  const observer = new pg.Client({ connectionString: database.url });
  await locker.connect();
  await observer.connect();
  await locker.query("BEGIN");
  await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  const count = async (condition: string) => {
    const { rows } = await observer.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND ${condition}`,
    );
    return Number(rows[0]!.n);
  };
  return {
    observer,
    /** Sessions waiting on a lock. */
    waiting: () => count("wait_event_type = 'Lock'"),
    /** Idle sessions (the locker is idle in its transaction, not idle). */
    idle: () => count("state = 'idle'"),
    release: () => locker.query("COMMIT"),
    end: async () => {
      await locker.end();
      await observer.end();
    },
  };
}

/** A webhook receiver that takes requests and never answers. */
async function silentWebhook(): Promise<{ url: string; received: IncomingMessage[]; server: Server }> {
  const received: IncomingMessage[] = [];
  const server = createServer((req) => received.push(req));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/otp`, received, server };
}

describe("npm start", () => {
  const startWithNpm = async () => {
    const npm = spawnChild("npm", ["start"], {
      cwd: ROOT,
      env: childEnv({
        PORT: "0",
        DATA_DIR: mkdtempSync(join(dir, "data-")),
        DATABASE_URL: database.url,
        npm_config_update_notifier: "false",
      }),
      detached: true,
    });
    started.push(npm);
    const [, pid] = await npm.waitFor(/"pid":(\d+),"msg":"gateway listening"/);
    npmGateways.push(Number(pid));
    return { npm, pid: Number(pid) };
  };

  it("runs the gateway as npm's own child, and SIGTERM to npm stops it gracefully", async () => {
    const { npm, pid } = await startWithNpm();
    // No shell between npm and node to swallow the signal.
    expect(parentOf(pid)).toBe(npm.child.pid);
    npm.child.kill("SIGTERM");
    await npm.exited;
    await eventually(() => !isRunning(pid));
    expect(npm.output()).toContain('"signal":"SIGTERM","timeoutMs":10000,"msg":"shutting down"');
    expect(npm.output()).toContain('"msg":"shutdown complete"');
  });

  it("stops gracefully on Ctrl-C, which reaches the gateway twice (from the terminal and from npm)", async () => {
    const { npm, pid } = await startWithNpm();
    // What a terminal does on Ctrl-C: SIGINT to the foreground process group, npm and the gateway alike.
    process.kill(-npm.child.pid!, "SIGINT");
    await npm.exited;
    await eventually(() => !isRunning(pid));
    expect(npm.output()).toContain('"msg":"shutdown complete"');
    expect(npm.output()).not.toContain("second signal");
  });
});

describe("in-flight requests", () => {
  it("a hanging webhook: the request is cut at SHUTDOWN_TIMEOUT_MS, then the gateway exits 0", async () => {
    const webhook = await silentWebhook();
    try {
      const { gateway, url } = await startGateway({
        OTP_DELIVERY: "webhook",
        OTP_WEBHOOK_URL: webhook.url,
        OTP_WEBHOOK_SECRET: "s3cret-webhook-key",
        OTP_WEBHOOK_TIMEOUT_MS: "60000",
        SHUTDOWN_TIMEOUT_MS: "1000",
      });
      const send = fetch(`${url}/otp/send`, {
        method: "POST",
        headers: { authorization: `Bearer ${await issuer.token("hook")}`, "content-type": "application/json" },
        body: JSON.stringify({ usage: "update_userinfo", email: "hook@example.com" }),
      }).then(
        (response) => response.status,
        (error: Error) => error.name,
      );
      await eventually(() => webhook.received.length === 1);
      const signalled = performance.now();
      // Twice at once, as a terminal's Ctrl-C and npm's forwarding deliver it: one shutdown, not a forced exit.
      gateway.child.kill("SIGTERM");
      gateway.child.kill("SIGTERM");
      const exit = await gateway.exited;
      expect(exit.code).toBe(0);
      expect(exit.at - signalled).toBeGreaterThanOrEqual(1000);
      expect(exit.at - signalled).toBeLessThan(6000);
      expect(await send).toBe("TypeError");
      expect(gateway.output()).toContain(
        '"timeoutMs":1000,"msg":"requests still running after SHUTDOWN_TIMEOUT_MS: their connections were closed"',
      );
      expect(gateway.output()).toContain('"msg":"shutdown complete"');
      expect(gateway.output()).not.toContain("second signal");
    } finally {
      webhook.server.closeAllConnections();
      webhook.server.close();
    }
  });

  it("a second signal exits at once, with 1", async () => {
    const webhook = await silentWebhook();
    try {
      const { gateway, url } = await startGateway({
        OTP_DELIVERY: "webhook",
        OTP_WEBHOOK_URL: webhook.url,
        OTP_WEBHOOK_SECRET: "s3cret-webhook-key",
        OTP_WEBHOOK_TIMEOUT_MS: "60000",
        SHUTDOWN_TIMEOUT_MS: "60000",
      });
      void fetch(`${url}/otp/send`, {
        method: "POST",
        headers: { authorization: `Bearer ${await issuer.token("twice")}`, "content-type": "application/json" },
        body: JSON.stringify({ usage: "update_userinfo", email: "twice@example.com" }),
      }).catch(() => undefined);
      await eventually(() => webhook.received.length === 1);
      gateway.child.kill("SIGTERM");
      await gateway.waitFor(/"msg":"shutting down"/);
      const signalled = performance.now();
      // Repeated until it takes: a repeat within 250 ms of the first counts as the same signal delivered twice.
      await eventually(() => {
        if (gateway.child.exitCode === null) gateway.child.kill("SIGTERM");
        return gateway.child.exitCode !== null;
      });
      const exit = await gateway.exited;
      expect(exit.code).toBe(1);
      expect(exit.at - signalled).toBeLessThan(5000);
      expect(gateway.output()).toMatch(
        /"signal":"SIGTERM","waitingFor":"in-flight requests","msg":"second signal: exiting at once"/,
      );
    } finally {
      webhook.server.closeAllConnections();
      webhook.server.close();
    }
  });
});

describe("on a PostgreSQL server (the run's: embedded, or TEST_DATABASE_URL's)", () => {
  it("busy pool clients: no new connections, the requests waiting on the database finish, then exit 0", async () => {
    const { gateway, url } = await startGateway({ DATABASE_POOL_SIZE: "3", SHUTDOWN_TIMEOUT_MS: "30000" });
    const subs = ["b1", "b2", "b3", "b4", "b5"];
    for (const sub of subs) expect((await patch(url, sub)).status).toBe(200);
    const lock = await lockedTable("users");
    try {
      // Five requests on a pool of three: three wait on the lock, two for a pool client.
      const requests = subs.map((sub) => patch(url, sub).then((response) => response.status));
      await eventually(async () => (await lock.waiting()) === 3);
      gateway.child.kill("SIGTERM");
      await gateway.waitFor(/"msg":"no longer accepting connections/);
      // A new connection, not one of fetch's kept-alive ones (the gateway closes those while idle: ECONNRESET).
      expect(await connectionError(url)).toBe("ECONNREFUSED");
      await lock.release();
      expect(await Promise.all(requests)).toEqual([200, 200, 200, 200, 200]);
      expect((await gateway.exited).code).toBe(0);
      expect(gateway.output()).toContain('"msg":"shutdown complete"');
      expect(gateway.output()).not.toContain("connections were closed");
    } finally {
      await lock.end();
    }
  });

  it("a request whose client left still finishes before the pool closes: its write lands, no error, exit 0", async () => {
    const { gateway, url } = await startGateway({ SHUTDOWN_TIMEOUT_MS: "30000" });
    // Two at once: the pool holds an idle connection beside the one the request below waits on.
    expect((await Promise.all([patch(url, "left"), patch(url, "left-too")])).map((r) => r.status)).toEqual([200, 200]);
    // The tokens' client is not a registered application: every request looks it up (a statement of its own) before
    // its write (another). The lookup waits on the lock.
    const lock = await lockedTable("applications");
    try {
      const leaving = new AbortController();
      const request = fetch(`${url}/userinfo`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${await issuer.token("left")}`, "content-type": "application/json" },
        body: JSON.stringify({ nickname: "written-after-the-client-left" }),
        signal: leaving.signal,
      }).catch((error: Error) => error.name);
      await eventually(async () => (await lock.waiting()) === 1);
      leaving.abort();
      expect(await request).toBe("AbortError");
      // No connection is left: the server closes at once, and the handler is still waiting on the lookup.
      gateway.child.kill("SIGTERM");
      await gateway.waitFor(/"msg":"no longer accepting connections/);
      // The lock goes once the shutdown waits for that request, or else has begun to close the pool (its idle
      // connections are gone): the request's write then needs a connection of a closing pool.
      await eventually(
        async () =>
          gateway.output().includes('"running":1,"msg":"waiting for requests whose clients left"') ||
          (await lock.idle()) === 0,
      );
      await lock.release();
      expect((await gateway.exited).code).toBe(0);
      const { rows } = await lock.observer.query<{ nickname: string }>("SELECT nickname FROM users WHERE sub = 'left'");
      expect(rows).toEqual([{ nickname: "written-after-the-client-left" }]);
      expect(gateway.output()).not.toContain("Cannot use a pool after calling end");
      expect(gateway.output()).not.toContain('"level":50');
      expect(gateway.output()).toContain('"msg":"shutdown complete"');
    } finally {
      await lock.end();
    }
  });

  it("a hanging database: in-flight requests are cut, and 5 s later the gateway exits 1 saying what hangs", async () => {
    const target = new URL(database.url);
    const proxy: TcpProxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    try {
      const { gateway, url } = await startGateway({
        DATABASE_URL: proxy.via(database.url),
        SHUTDOWN_TIMEOUT_MS: "1000",
      });
      expect((await patch(url, "hung")).status).toBe(200);
      proxy.freeze();
      const request = patch(url, "hung").then(
        (response) => response.status,
        (error: Error) => error.name,
      );
      await eventually(() => proxy.heldBytes() > 0);
      const signalled = performance.now();
      gateway.child.kill("SIGTERM");
      const exit = await gateway.exited;
      expect(exit.code).toBe(1);
      expect(exit.at - signalled).toBeGreaterThanOrEqual(5900);
      expect(exit.at - signalled).toBeLessThan(15_000);
      expect(await request).toBe("TypeError");
      expect(gateway.output()).toContain(
        '"waitingFor":"the database pool to close","timeoutMs":1000,"graceMs":5000,' +
          '"msg":"shutdown still waiting for the database pool to close 6000 ms after the signal: exiting with 1"',
      );
    } finally {
      await proxy.close();
    }
  });
});

describe("on the embedded database", () => {
  it("an open CLI connection does not hold the shutdown: exit 0, the database server stopped", async () => {
    const dataDir = mkdtempSync(join(dir, "embedded-"));
    const { gateway } = await startGateway({ DATABASE_URL: "", DATA_DIR: dataDir });
    // The CLI reaches the embedded database with the URL and password in DATA_DIR.
    const cliConnection = new pg.Client({ connectionString: runningEmbeddedUrl(dataDir)! });
    cliConnection.on("error", () => undefined);
    await cliConnection.connect();
    expect((await cliConnection.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    const ended = new Promise<void>((done) => cliConnection.once("end", done));
    gateway.child.kill("SIGTERM");
    expect((await gateway.exited).code).toBe(0);
    expect(gateway.output()).toContain('"msg":"shutdown complete"');
    // PostgreSQL removes its postmaster.pid when it has stopped.
    expect(existsSync(join(dataDir, "pgdata", "postmaster.pid"))).toBe(false);
    await ended;
  }, 90_000);
});

/** The error code of opening a new TCP connection to the URL's port, or "connected". */
function connectionError(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
