import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/child.js";
import { checkedFetch } from "../support/openapi.js";
import { cli, type GatewayProcess, postmasters, runGatewayToExit, startGatewayProcess } from "../support/process.js";

// The embedded default as a person meets it: `npm start`, the CLI beside it, a second start refused. Each CLI run
// and gateway start is a process of its own (and may start and stop a database server): minutes on a busy machine.
describe("npm start on the embedded database", { timeout: 120_000 }, () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "userinfo-e2e-"));
    env = { DATA_DIR: dataDir };
    gateway = await startGatewayProcess(env);
  });
  afterAll(async () => {
    await gateway?.stop("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves PATCH /userinfo with a token from the CLI", async () => {
    const token = await cli(["token", "alice"], env);
    expect(token.code).toBe(0);
    const response = await checkedFetch(`${gateway.url}/userinfo`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token.stdout.trim()}`, "content-type": "application/json" },
      body: JSON.stringify({ nickname: "MOCK_NICKNAME" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: "alice", nickname: "MOCK_NICKNAME" });
  });

  it("sends a code with the demo application's credentials, logs it, and accepts it in PATCH", async () => {
    const demo = `Basic ${Buffer.from("demo:demo-secret").toString("base64")}`;
    const sent = await checkedFetch(`${gateway.url}/otp/send`, {
      method: "POST",
      headers: { authorization: demo, "content-type": "application/json" },
      body: JSON.stringify({ usage: "update_userinfo", email: "alice@example.com" }),
    });
    expect(sent.status).toBe(200);
    const { otp_token } = (await sent.json()) as { otp_token: string };
    await expect.poll(() => /"code":"([0-9]{6})"/.exec(gateway.output())?.[1]).toMatch(/^[0-9]{6}$/);
    const code = /"code":"([0-9]{6})"/.exec(gateway.output())![1];
    expect(gateway.output()).not.toContain(otp_token);
    const token = (await cli(["token", "alice"], env)).stdout.trim();
    const patched = await checkedFetch(`${gateway.url}/userinfo`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ email: "alice@example.com", email_otp_token: otp_token, email_otp: code }),
    });
    expect(await patched.json()).toMatchObject({ sub: "alice", email: "alice@example.com", email_verified: true });
    expect(gateway.output()).not.toContain(token);
  });

  it("lets the CLI reach the database through the running gateway", async () => {
    const added = await cli(
      ["users", "add", "bob", "--email", "Bob@Example.com", "--phone-number", "+86 139 0000 0000", "--name", "Bob"],
      env,
    );
    expect(added).toMatchObject({ code: 0, stdout: "user bob created\n" });
    const again = await cli(["users", "add", "bob"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("error: user bob exists already\n");
    const app = await cli(["apps", "add", "mobile", "--secret", "s3cret", "--claims", "name,email"], env);
    expect(app.code).toBe(0);
    const list = await cli(["apps", "list"], env);
    expect(list.stdout).toContain("mobile\tname,email\n");
    expect(list.stdout).not.toContain("s3cret");

    const token = (await cli(["token", "bob", "--client-id", "mobile"], env)).stdout.trim();
    const response = await checkedFetch(`${gateway.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
    expect(await response.json()).toEqual({ sub: "bob", name: "Bob", email: "Bob@Example.com" });
    expect((await cli(["migrate"], env)).stdout).toBe("database is up to date\n");
  });

  it("opens GraphiQL with a working demo token, and answers GraphQL with it", async () => {
    const page = await fetch(`${gateway.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    const html = await page.text();
    const authorization = /Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(html)?.[0];
    expect(authorization).toBeDefined();
    const response = await fetch(`${gateway.url}/graphql`, {
      method: "POST",
      headers: { authorization: authorization!, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ userInfo { sub } }" }),
    });
    expect(await response.json()).toEqual({ data: { userInfo: { sub: "demo-user" } } });
  });

  it("reads bodies at the HTTP layer: empty, too large, and GraphQL alike", async () => {
    const token = (await cli(["token", "erin"], env)).stdout.trim();
    const patch = (body: string) =>
      checkedFetch(`${gateway.url}/userinfo`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
    const empty = await patch("");
    expect(empty.status).toBe(400);
    expect(await empty.json()).toEqual({ error: "invalid_request", error_description: "The request body is empty." });
    const large = await patch(JSON.stringify({ nickname: "x".repeat(70_000) }));
    expect(large.status).toBe(413);
    expect(await large.json()).toEqual({
      error: "invalid_request",
      error_description: "The request body is too large.",
    });
    const graphql = await fetch(`${gateway.url}/graphql`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        query: 'mutation { updateUserInfo(input: { nickname: "Ali" }) { ... on UserInfo { nickname } } }',
      }),
    });
    expect(await graphql.json()).toEqual({ data: { updateUserInfo: { nickname: "Ali" } } });
    expect(graphql.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a second gateway on the same data directory, naming the holder", async () => {
    const second = await runGatewayToExit({ DATA_DIR: dataDir });
    expect(second.code).toBe(1);
    expect(second.output).toContain(`the embedded database in ${dataDir} is in use by process ${gateway.child.pid}`);
    expect(postmasters(dataDir)).toHaveLength(1);
  });

  it("prints the database URL for backups (pg_dump), with the password kept in DATA_DIR", async () => {
    const url = await cli(["db", "url"], env);
    expect(url.code).toBe(0);
    const secret = readFileSync(join(dataDir, "pg-password"), "utf8").trim();
    expect(url.stdout.trim()).toMatch(
      new RegExp(`^postgresql://postgres:${secret}@127\\.0\\.0\\.1:[0-9]+/userinfo\\?sslmode=disable$`),
    );
    expect(statSync(join(dataDir, "pg-password")).mode & 0o777).toBe(0o600);
    const client = new pg.Client({ connectionString: url.stdout.trim() });
    await client.connect();
    try {
      expect((await client.query("SELECT count(*)::int AS n FROM users WHERE sub = 'bob'")).rows).toEqual([{ n: 1 }]);
    } finally {
      await client.end();
    }
  });

  it("rejects bad CLI input with a message and exit code 1", async () => {
    expect(await cli(["users", "add", "carol", "--phone-number", "123"], env)).toMatchObject({
      code: 1,
      stderr: "error: malformed phone number\n",
    });
    expect(await cli(["attributes", "add", "email", "--type", "string"], env)).toMatchObject({ code: 1 });
    expect((await cli(["frobnicate"], env)).stderr).toContain("unknown command: frobnicate");
    expect(await cli(["apps", "add", "empty", "--secret", "", "--claims", "name"], env)).toMatchObject({
      code: 1,
      stderr: "error: --secret must not be empty\n",
    });
    expect(await cli(["apps", "add", "none", "--secret", "s", "--claims", " , "], env)).toMatchObject({
      code: 1,
      stderr: "error: --claims needs at least one claim, e.g. --claims name,email\n",
    });
    expect(await cli(["apps", "add", "typo", "--secret", "s", "--claims", "name,emial"], env)).toMatchObject({
      code: 1,
      stderr: "error: unknown claim(s): emial (standard claims, or custom attributes defined with `attributes add`)\n",
    });
    expect((await cli(["apps", "list"], env)).stdout).not.toMatch(/^(empty|none|typo)\t/m);
  });

  it("says in one line that the database cannot be reached", async () => {
    const result = await cli(["apps", "list"], { ...env, DATABASE_URL: "postgresql://postgres@127.0.0.1:1/nowhere" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: the database cannot be reached \(.*ECONNREFUSED.*\): check DATABASE_URL\n$/);
  });

  it("stops on SIGTERM with its database server, and the CLI then starts and stops one itself", async () => {
    expect(await gateway.stop("SIGTERM")).toBe(0);
    expect(postmasters(dataDir)).toEqual([]);
    expect((await cli(["db", "url"], env)).stderr).toBe(
      "error: no embedded database server runs for this DATA_DIR: start the gateway (npm start) first\n",
    );
    const added = await cli(["attributes", "add", "team", "--type", "string", "--pattern", "[a-z]+"], env);
    expect(added).toMatchObject({ code: 0, stdout: "attribute team saved\n" });
    expect((await cli(["attributes", "list"], env)).stdout).toBe("team\tstring\twritable\t[a-z]+\n");
    expect(postmasters(dataDir)).toEqual([]);
    gateway = await startGatewayProcess(env);
    const token = (await cli(["token", "alice"], env)).stdout.trim();
    const response = await checkedFetch(`${gateway.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
    expect(await response.json()).toMatchObject({ sub: "alice", nickname: "MOCK_NICKNAME" });
  });
});

describe("a gateway killed with SIGKILL", { timeout: 120_000 }, () => {
  it("leaves its database server behind, and the next start takes it over: no data lost, no second server", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-kill-"));
    const env = { DATA_DIR: dataDir };
    let gateway = await startGatewayProcess(env);
    try {
      const token = (await cli(["token", "kim"], env)).stdout.trim();
      const patch = (target: GatewayProcess, nickname: string) =>
        checkedFetch(`${target.url}/userinfo`, {
          method: "PATCH",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ nickname }),
        });
      expect((await patch(gateway, "before")).status).toBe(200);
      const [server] = postmasters(dataDir);
      expect(server).toBeDefined();
      await gateway.stop("SIGKILL");
      expect(postmasters(dataDir)).toEqual([server]);

      gateway = await startGatewayProcess(env);
      expect(postmasters(dataDir)).toEqual([server]);
      const read = await checkedFetch(`${gateway.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
      expect(await read.json()).toMatchObject({ sub: "kim", nickname: "before" });
      expect((await patch(gateway, "after")).status).toBe(200);
      expect(await gateway.stop("SIGTERM")).toBe(0);
      expect(postmasters(dataDir)).toEqual([]);
    } finally {
      await gateway.stop("SIGKILL");
      for (const pid of postmasters(dataDir)) process.kill(pid, "SIGQUIT");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("stops the server when the gateway fails after starting it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-fail-"));
    try {
      // Port 1 needs privileges the gateway drops nowhere: listening fails after the database started.
      const blocker = await startGatewayProcess({ DATA_DIR: mkdtempSync(join(tmpdir(), "userinfo-port-")) });
      const port = new URL(blocker.url).port;
      const failed = await runGatewayToExit({ DATA_DIR: dataDir, PORT: port });
      await blocker.stop("SIGTERM");
      expect(failed.code).toBe(1);
      expect(failed.output).toContain("EADDRINUSE");
      expect(postmasters(dataDir)).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("a gateway that dies of an uncaught exception", { timeout: 120_000 }, () => {
  it("stops its database server on the way out", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-uncaught-"));
    const scripts = mkdtempSync(join(tmpdir(), "userinfo-preload-"));
    // Loaded into the gateway's process by Node itself (nothing in the gateway knows of it): SIGUSR2 throws where
    // nothing catches it.
    const preload = join(scripts, "throw-on-sigusr2.mjs");
    writeFileSync(
      preload,
      'process.on("SIGUSR2", () => setImmediate(() => { throw new Error("an injected uncaught exception"); }));\n',
    );
    const gateway = await startGatewayProcess({ DATA_DIR: dataDir, NODE_OPTIONS: `--import=${preload}` });
    try {
      const [server] = postmasters(dataDir);
      expect(server).toBeDefined();
      const exited = new Promise<number | null>((done) => gateway.child.once("exit", (code) => done(code)));
      gateway.child.kill("SIGUSR2");
      expect(await exited).toBe(1);
      expect(gateway.output()).toContain("an injected uncaught exception");
      await eventually(() => postmasters(dataDir).length === 0);
    } finally {
      await gateway.stop("SIGKILL");
      for (const pid of postmasters(dataDir)) process.kill(pid, "SIGQUIT");
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(scripts, { recursive: true, force: true });
    }
  });
});

describe("a DATA_DIR the server's user cannot reach", () => {
  it("refuses to start as root with a message naming the fixes, and starts for any other user", async () => {
    const parent = mkdtempSync(join(tmpdir(), "userinfo-private-"));
    const dataDir = join(parent, "data");
    try {
      const result = await runGatewayToExit({ DATA_DIR: dataDir, PORT: "0", SHUTDOWN_TIMEOUT_MS: "1000" }, 15_000);
      if (process.getuid?.() === 0) {
        expect(result.code).toBe(1);
        expect(result.output).toContain(`DATA_DIR ${dataDir} is out of reach of the user \\"postgres\\"`);
        expect(postmasters(dataDir)).toEqual([]);
      } else {
        expect(result.output).toContain('"msg":"gateway listening"');
      }
    } finally {
      for (const pid of postmasters(dataDir)) process.kill(pid, "SIGQUIT");
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("production mode", () => {
  it("refuses to start with the development issuer unless AUTH_DEV_ISSUER=true", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-prod-"));
    try {
      const refused = await runGatewayToExit({ DATA_DIR: dataDir, NODE_ENV: "production" });
      expect(refused.code).toBe(1);
      expect(refused.output).toContain("refusing to start in production with the development token issuer");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
