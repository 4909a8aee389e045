// npm run bench [-- --embedded] [--duration 10] [--connections 32]
// Starts the gateway in production mode (PostgreSQL by default; --embedded: the embedded database), creates users and
// ES256 tokens through a JWKS file, and drives each scenario with autocannon; a plain node:http + jose + pg server
// on the same database is the ceiling. Prints requests/s, p50, p99, errors, server RSS and the ratio to the ceiling.
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { runningEmbeddedUrl } from "../src/persistence/embedded.js";

const ROOT = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    embedded: { type: "boolean", default: false },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    users: { type: "string", default: "1000" },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const USERS = Number(args.users);
const ISSUER = "https://issuer.bench";
const POOL_SIZE = 10;

const freePort = () =>
  new Promise<number>((done) => {
    const server = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });

/**
 * The memory of the embedded server's processes together (the postmaster and its children), in MB: their PSS, which
 * counts the shared buffers once rather than once per process as a sum of RSS would.
 */
function databaseMemoryMb(): number {
  const out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,args="]).toString();
  const rows = out
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .map(([pid, ppid, ...args]) => ({ pid: Number(pid), ppid: Number(ppid), args: args.join(" ") }));
  const postmaster = rows.find((r) => r.args.includes("userinfo-bench-") && r.args.includes("pgdata"));
  if (postmaster === undefined) return 0;
  let kb = 0;
  for (const { pid } of rows.filter((r) => r.pid === postmaster.pid || r.ppid === postmaster.pid)) {
    try {
      kb += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    } catch {
      // The process ended meanwhile.
    }
  }
  return Math.round(kb / 1024);
}

const rssMb = (pid: number | undefined) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
};

async function waitHealthy(url: string, child: ChildProcess) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

interface Row {
  scenario: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  rssMb: number;
}

async function load(
  url: string,
  method: string,
  bodyFor: (i: number) => string,
  tokens: string[],
  contentType = "application/json",
) {
  let i = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: [
      {
        method: method as "GET",
        setupRequest: (req) => {
          const n = i++;
          return {
            ...req,
            headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, "content-type": contentType },
            ...(method === "GET" ? {} : { body: bodyFor(n) }),
          };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "userinfo-bench-"));
  // The embedded server may run as another user (as root: "postgres"): it must get through to DATA_DIR inside.
  chmodSync(dir, 0o711);
  const children: ChildProcess[] = [];
  let dropDatabase: (() => Promise<void>) | undefined;
  try {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwksFile = join(dir, "jwks.json");
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" }] }),
    );
    const now = Math.floor(Date.now() / 1000);
    const subs = Array.from({ length: USERS }, (_, i) => `bench-${i}`);
    const tokens = await Promise.all(
      subs.map((sub) =>
        new SignJWT({ scope: "openid profile email", client_id: "bench" })
          .setProtectedHeader({ alg: "ES256", kid: "bench" })
          .setSubject(sub)
          .setIssuer(ISSUER)
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .sign(privateKey),
      ),
    );

    // Codes arrive at a local webhook, as an SMS/email provider would receive them.
    const codes = new Map<string, string>();
    const waiting = new Map<string, (code: string) => void>();
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const { to, code } = JSON.parse(body) as { to: string; code: string };
        codes.set(to, code);
        waiting.get(to)?.(code);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/otp`;

    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: join(dir, "data"),
      AUTH_JWKS_FILE: jwksFile,
      AUTH_ISSUER: ISSUER,
      OTP_DELIVERY: "webhook",
      OTP_WEBHOOK_URL: webhook,
      OTP_WEBHOOK_SECRET: randomBytes(16).toString("hex"),
      OTP_TARGET_DAILY_LIMIT: "1000000",
      OTP_CLIENT_LIMIT: "1000000",
      OTP_IP_LIMIT: "1000000",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      DATABASE_POOL_SIZE: String(POOL_SIZE),
    };
    let databaseSettings: string;
    if (!args.embedded) {
      const admin =
        process.env.BENCH_DATABASE_URL ??
        process.env.TEST_DATABASE_URL ??
        "postgres://postgres@127.0.0.1:5432/postgres";
      const name = `userinfo_bench_${randomBytes(4).toString("hex")}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
      const version = (await client.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
      await client.end();
      const url = new URL(admin);
      url.pathname = `/${name}`;
      env.DATABASE_URL = url.toString();
      databaseSettings = `PostgreSQL ${version} on loopback, synchronous_commit=off, pool ${POOL_SIZE} per server`;
      dropDatabase = async () => {
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      };
    } else {
      databaseSettings = `embedded PostgreSQL 18 in DATA_DIR on loopback, synchronous_commit=off, pool ${POOL_SIZE} per server`;
    }

    // Exactly as `npm start` runs it (its Node flags included), minus npm's own process.
    const startArgs = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }
    ).scripts.start
      .split(" ")
      .filter((_word, i, words) => i > words.indexOf("node"));
    const gateway = spawn(process.execPath, startArgs, { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    children.push(gateway);
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(`${base}/readyz`, gateway);
    const databaseUrl = env.DATABASE_URL ?? runningEmbeddedUrl(join(dir, "data"));
    if (databaseUrl === undefined) throw new Error("the embedded database server is not running");
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    if (args.embedded) {
      // The same durability setting as the PostgreSQL path, for every session from now on.
      await db.query("ALTER SYSTEM SET synchronous_commit = off");
      await db.query("SELECT pg_reload_conf()");
    }
    await db.query(
      `INSERT INTO users (sub, created_at, updated_at) SELECT unnest($1::text[]), now(), now() ON CONFLICT DO NOTHING`,
      [subs],
    );
    await db.end();

    const ceilingPort = await freePort();
    const ceiling = fork(join(ROOT, "bench/ceiling.mjs"), [], {
      cwd: ROOT,
      env: {
        ...env,
        PORT: String(ceilingPort),
        DATABASE_URL: databaseUrl,
        JWKS_FILE: jwksFile,
        ISSUER,
        POOL_SIZE: String(POOL_SIZE),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(ceiling);
    await new Promise<void>((r) => ceiling.once("message", () => r()));

    const nickname = (i: number) => JSON.stringify({ nickname: `nick-${i % 997}` });
    const graphqlNickname = (i: number) =>
      JSON.stringify({
        query:
          "mutation($n: String) { updateUserInfo(input: { nickname: $n }) { __typename ... on UserInfo { sub nickname updatedAt } ... on Error { code } } }",
        variables: { n: `nick-${i % 997}` },
      });

    const rows: Row[] = [];
    const run = async (
      scenario: string,
      pid: number | undefined,
      url: string,
      method: string,
      body: (i: number) => string,
    ) => {
      // A short warm-up (JIT, pool, caches), then the measured run.
      const warm = DURATION;
      await autocannon({
        url,
        connections: CONNECTIONS,
        duration: Math.min(3, warm),
        method: method as "GET",
        headers: { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" },
        ...(method === "GET" ? {} : { body: body(0) }),
      });
      const result = await load(url, method, body, tokens);
      rows.push({ scenario, ...result, rssMb: rssMb(pid) });
      process.stderr.write(`${scenario}: ${Math.round(result.rps)} req/s\n`);
    };
    await run(
      "ceiling: node:http + jose + pg UPDATE",
      ceiling.pid,
      `${base.replace(String(port), String(ceilingPort))}/userinfo`,
      "PATCH",
      nickname,
    );
    await run("REST PATCH /userinfo (nickname)", gateway.pid, `${base}/userinfo`, "PATCH", nickname);
    await run("GraphQL updateUserInfo (nickname)", gateway.pid, `${base}/graphql`, "POST", graphqlNickname);
    await run("REST GET /userinfo", gateway.pid, `${base}/userinfo`, "GET", () => "");

    // The OTP flow at low concurrency: POST /otp/send (Bearer), the code from the webhook, PATCH email.
    const flowConnections = 4;
    const latencies: number[] = [];
    let flowErrors = 0;
    let flowCounter = 0;
    const deadline = Date.now() + DURATION * 1000;
    const flowWorker = async () => {
      while (Date.now() < deadline) {
        const n = flowCounter++;
        const token = tokens[n % tokens.length]!;
        const email = `flow-${n}-${randomBytes(3).toString("hex")}@bench.example`;
        const started = performance.now();
        const codeArrived = new Promise<string>((r) => waiting.set(email, r));
        const sent = await fetch(`${base}/otp/send`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ usage: "update_userinfo", email }),
        });
        if (!sent.ok) {
          flowErrors++;
          await sent.text();
          continue;
        }
        const { otp_token } = (await sent.json()) as { otp_token: string };
        const code = codes.get(email) ?? (await codeArrived);
        waiting.delete(email);
        const patched = await fetch(`${base}/userinfo`, {
          method: "PATCH",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ email, email_otp_token: otp_token, email_otp: code }),
        });
        await patched.text();
        if (!patched.ok) flowErrors++;
        latencies.push(performance.now() - started);
      }
    };
    const flowStarted = Date.now();
    await Promise.all(Array.from({ length: flowConnections }, flowWorker));
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0);
    rows.push({
      scenario: `OTP flow (send + PATCH email), ${flowConnections} clients`,
      rps: (latencies.length / (Date.now() - flowStarted)) * 1000,
      p50: pct(50),
      p99: pct(99),
      errors: flowErrors,
      rssMb: rssMb(gateway.pid),
    });
    receiver.close();

    const ceilingRps = rows[0]!.rps;
    const restRps = rows[1]!.rps;
    const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
    const out = [
      `userinfo-bff benchmark, ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      `database: ${databaseSettings}; ${CONNECTIONS} connections, ${DURATION} s per scenario, ${USERS} users/tokens; load generator on the same machine`,
      "",
      line(["scenario", "req/s", "p50 ms", "p99 ms", "errors", "server RSS MB", "x ceiling"]),
      line(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
      ...rows.map((r) =>
        line([
          r.scenario,
          String(Math.round(r.rps)),
          String(r.p50),
          String(r.p99),
          String(r.errors),
          String(r.rssMb),
          (r.rps / ceilingRps).toFixed(2),
        ]),
      ),
      "",
      "targets:",
      `  REST PATCH >= 0.5 x ceiling: ${(restRps / ceilingRps).toFixed(2)} ${restRps >= 0.5 * ceilingRps ? "ok" : "MISSED"}`,
      `  GraphQL >= 0.8 x REST PATCH: ${(rows[2]!.rps / restRps).toFixed(2)} ${rows[2]!.rps >= 0.8 * restRps ? "ok" : "MISSED"}`,
      `  GET >= 0.6 x ceiling: ${(rows[3]!.rps / ceilingRps).toFixed(2)} ${rows[3]!.rps >= 0.6 * ceilingRps ? "ok" : "MISSED"}`,
      `  p99 <= 50 ms at ${CONNECTIONS} connections: ${rows
        .slice(1, 4)
        .map((r) => r.p99)
        .join(", ")} ${rows.slice(1, 4).every((r) => r.p99 <= 50) ? "ok" : "MISSED"}`,
      `  server RSS <= 250 MB after the run: ${rssMb(gateway.pid)} ${rssMb(gateway.pid) <= 250 ? "ok" : "MISSED"}`,
      ...(args.embedded
        ? [
            `  embedded database processes <= 150 MB together (PSS): ${databaseMemoryMb()} ${databaseMemoryMb() <= 150 ? "ok" : "MISSED"}`,
          ]
        : []),
      `  every request succeeded: ${rows.every((r) => r.errors === 0) ? "ok" : "MISSED"}`,
    ].join("\n");
    process.stdout.write(`${out}\n`);
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
    await dropDatabase?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
