// npm run bench [-- --embedded] [--duration 5] [--rounds 5] [--connections 32] [--users 1000] [--growth]
//
// Starts the gateway in production mode (PostgreSQL by default; --embedded: the embedded database) and three
// ceilings, each its own process on the same database:
//   - fair write (bench/ceiling.ts MODE=write): node:http + the gateway's bearer verifier and token cache + the
//     gateway's own write statement (insert-or-update ... RETURNING with its audit insert, one statement);
//   - fair read (bench/ceiling.ts MODE=read): the same, with the gateway's SELECT by key;
//   - the old no-cache write ceiling (bench/ceiling.mjs: jose ES256 on every request + a bare UPDATE), for reference.
// Each scenario runs `--rounds` times, alternating the order of the rounds (so that drift of a shared machine hits
// gateway and ceiling alike), with autocannon; the tables show medians over the rounds, and each ratio is the median
// of the per-round ratios (gateway and its ceiling measured seconds apart). Then the OTP flow (send, code at a local
// webhook, PATCH email). With --growth: PATCH and GET at 1k / 100k / 1M users (--sizes), 1 / 2 / 4 gateway processes
// (--processes; separate processes on separate ports, connections spread evenly) and 8 / 32 / 128 connections
// (--conns); the table is printed and the chart written to docs/performance-growth.svg.
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { STANDARD_CLAIMS } from "../src/domain/attributes.js";
import { runningEmbeddedUrl } from "../src/persistence/embedded.js";
import { lineChartSvg, type Series } from "./chart.js";
import { createBenchIssuer, freePort, ISSUER, signTokens } from "./issuer.js";

const ROOT = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    embedded: { type: "boolean", default: false },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    users: { type: "string", default: "1000" },
    growth: { type: "boolean", default: false },
    "growth-duration": { type: "string", default: "4" },
    sizes: { type: "string", default: "1000,100000,1000000" },
    processes: { type: "string", default: "1,2,4" },
    conns: { type: "string", default: "8,32,128" },
    "skip-main": { type: "boolean", default: false },
    /**
     * Only the scenarios whose name this regular expression matches (a plain text: whose name contains it): for
     * profiling one of them (no ratios, no OTP flow).
     */
    only: { type: "string" },
    /**
     * With --only: also a second gateway, built in this directory (a checkout of another revision, `npm run build`
     * done), measured in the same run, rounds alternating - to compare two versions like with like.
     */
    against: { type: "string" },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const USERS = Number(args.users);
const POOL_SIZE = 10;
const TOKEN_CACHE_SIZE = 10_000;
const WARM_UP_SECONDS = 1;
/** Clients of the OTP flow, each sending and patching in a loop. */
const FLOW_CLIENTS = 4;
const OTP_FLOW = "OTP flow (send + PATCH email)";
const numbers = (list: string) => list.split(",").map(Number);

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

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * One measurement: requests/s summed over the targets, the worst target's p50/p99, failed requests, and the CPU time
 * the serving processes spent per request (user + system, from /proc; less sensitive to a busy machine than req/s).
 */
interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUs: number;
}

/** A process serving HTTP: its base URL and the child process. */
interface Target {
  readonly base: string;
  readonly child: ChildProcess;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A request kind: its method, path and body. */
interface Kind {
  readonly method: "GET" | "PATCH" | "POST";
  readonly path: string;
  readonly body?: (i: number) => string;
  /** Headers of the i-th request besides the token and the content type. */
  readonly headers?: (i: number) => Record<string, string>;
}

/**
 * Drives `kind` at every base URL at once (the connections spread evenly) for `seconds`, each request with the next
 * token of `tokens`.
 */
async function load(
  targets: readonly Target[],
  kind: Kind,
  tokens: readonly string[],
  connections: number,
  seconds: number,
  /** Instead of a duration: this many requests in all. */
  amount?: number,
): Promise<Measured> {
  let i = 0;
  const bases = targets.map((t) => t.base);
  const cpuBefore = targets.reduce((sum, t) => sum + cpuSeconds(t.child.pid), 0);
  const results = await Promise.all(
    bases.map((base, b) =>
      autocannon({
        url: `${base}${kind.path}`,
        connections: Math.floor(connections / bases.length) + (b < connections % bases.length ? 1 : 0),
        ...(amount === undefined
          ? { duration: seconds }
          : { amount: Math.floor(amount / bases.length) + (b < amount % bases.length ? 1 : 0) }),
        requests: [
          {
            method: kind.method,
            setupRequest: (req) => {
              const n = i++;
              return {
                ...req,
                headers: {
                  authorization: `Bearer ${tokens[n % tokens.length]}`,
                  "content-type": "application/json",
                  ...kind.headers?.(n),
                },
                ...(kind.body === undefined ? {} : { body: kind.body(n) }),
              };
            },
          },
        ],
      }),
    ),
  );
  const cpu = targets.reduce((sum, t) => sum + cpuSeconds(t.child.pid), 0) - cpuBefore;
  const requests = results.reduce((sum, r) => sum + r.requests.total, 0);
  return {
    cpuUs: requests === 0 ? 0 : (cpu * 1e6) / requests,
    rps: results.reduce((sum, r) => sum + r.requests.average, 0),
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    errors: results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
  };
}

/**
 * A warm-up - every token once (so that the measured run meets only verified tokens in the token caches, however slow
 * the machine), then `WARM_UP_SECONDS` more (JIT, pools) - and the measured run.
 */
async function measure(
  targets: readonly Target[],
  kind: Kind,
  tokens: readonly string[],
  connections: number,
  seconds: number,
): Promise<Measured> {
  await load(targets, kind, tokens, connections, 0, tokens.length);
  await load(targets, kind, tokens, connections, WARM_UP_SECONDS);
  return load(targets, kind, tokens, connections, seconds);
}

/** Adds users `bench-<from>` .. `bench-<to - 1>` in one statement. */
async function seedUsers(databaseUrl: string, from: number, to: number) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(
    `INSERT INTO users (sub, created_at, updated_at)
     SELECT 'bench-' || g, now(), now() FROM generate_series($1::int, $2::int - 1) AS g ON CONFLICT DO NOTHING`,
    [from, to],
  );
  await db.query("ANALYZE users");
  await db.end();
}

const nicknameBody = (i: number) => JSON.stringify({ nickname: `nick-${i % 997}` });
const graphqlNicknameBody = (i: number) =>
  JSON.stringify({
    query:
      "mutation($n: String) { updateUserInfo(input: { nickname: $n }) { __typename ... on UserInfo { sub nickname updatedAt } ... on Error { code } } }",
    variables: { n: `nick-${i % 997}` },
  });
const PATCH: Kind = { method: "PATCH", path: "/userinfo", body: nicknameBody };
const GET: Kind = { method: "GET", path: "/userinfo" };
/** The same PATCH, each request with an Idempotency-Key of its own (a new key: the request runs and is kept). */
const RUN = randomBytes(4).toString("hex");
const KEYED_PATCH: Kind = { ...PATCH, headers: (i) => ({ "idempotency-key": `bench-${RUN}-${i}` }) };
const GRAPHQL: Kind = { method: "POST", path: "/graphql", body: graphqlNicknameBody };

const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "userinfo-bench-"));
  // The embedded server may run as another user (as root: "postgres"): it must get through to DATA_DIR inside.
  chmodSync(dir, 0o711);
  const children: ChildProcess[] = [];
  let dropDatabase: (() => Promise<void>) | undefined;
  // Open until the gateways have stopped: the notices of the OTP flow's changes reach it after the flow.
  let closeReceiver = () => {};
  try {
    const { jwksFile, privateKey } = await createBenchIssuer(dir);
    const subs = Array.from({ length: USERS }, (_, i) => `bench-${i}`);
    const tokens = await signTokens(privateKey, subs);

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
    closeReceiver = () => receiver.close();
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/otp`;

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: "production",
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
      TOKEN_CACHE_SIZE: String(TOKEN_CACHE_SIZE),
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

    // Exactly as `npm start` runs it (its Node flags included, those of the revision in `root`), minus npm's own
    // process.
    const startArgs = (root: string) =>
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start
        .split(" ")
        .filter((_word, i, words) => i > words.indexOf("node"));
    const startGateway = async (extraEnv: NodeJS.ProcessEnv = {}, root = ROOT) => {
      const port = await freePort();
      const nodeFlags = process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? [];
      const child = spawn(process.execPath, [...nodeFlags, ...startArgs(root)], {
        cwd: root,
        env: { ...env, ...extraEnv, PORT: String(port) },
        stdio: ["ignore", "inherit", "inherit"],
      });
      children.push(child);
      const base = `http://127.0.0.1:${port}`;
      await waitHealthy(`${base}/readyz`, child);
      return { child, base };
    };
    const gateway = await startGateway();
    const base = gateway.base;
    const databaseUrl = env.DATABASE_URL ?? runningEmbeddedUrl(join(dir, "data"));
    if (databaseUrl === undefined) throw new Error("the embedded database server is not running");
    if (args.embedded) {
      // The same durability setting as the PostgreSQL path, for every session from now on.
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      await db.query("ALTER SYSTEM SET synchronous_commit = off");
      await db.query("SELECT pg_reload_conf()");
      await db.end();
    }
    await seedUsers(databaseUrl, 0, USERS);
    // The tokens' client, registered as an application (all standard claims), as a deployment registers its clients:
    // the gateway remembers applications for LOOKUP_CACHE_TTL_MS, but looks an unregistered client id up on every
    // request (so that `apps add` takes effect at once) - a second statement per request that no ceiling runs.
    execFileSync(
      process.execPath,
      [
        "dist/cli.js",
        "apps",
        "add",
        "bench",
        "--secret",
        randomBytes(16).toString("hex"),
        "--claims",
        STANDARD_CLAIMS.join(","),
      ],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, DATA_DIR: join(dir, "cli") },
        stdio: "ignore",
      },
    );

    const startCeiling = async (file: string, mode: string) => {
      const port = await freePort();
      const child = fork(join(ROOT, file), [], {
        cwd: ROOT,
        execArgv: [
          ...(file.endsWith(".ts") ? ["--import", "tsx"] : []),
          // For profiling a ceiling like the gateway (BENCH_NODE_FLAGS), e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
          ...(process.env.BENCH_CEILING_FLAGS?.split(" ").filter(Boolean) ?? []),
        ],
        env: {
          ...env,
          MODE: mode,
          PORT: String(port),
          DATABASE_URL: databaseUrl,
          JWKS_FILE: jwksFile,
          ISSUER,
          POOL_SIZE: String(POOL_SIZE),
          TOKEN_CACHE_SIZE: String(TOKEN_CACHE_SIZE),
        },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      await new Promise<void>((r) => child.once("message", () => r()));
      return { child, base: `http://127.0.0.1:${port}` };
    };

    /**
     * The OTP flow at low concurrency ({@link FLOW_CLIENTS} clients, each in a loop for `seconds`): POST /otp/send
     * (Bearer), the code from the webhook, PATCH email. Flows/s, the latency of whole flows, and each step's median.
     */
    const otpFlow = async (target: string, seconds: number) => {
      const latencies: number[] = [];
      const steps = { send: [] as number[], code: [] as number[], patch: [] as number[] };
      let errors = 0;
      let counter = 0;
      const deadline = Date.now() + seconds * 1000;
      const worker = async () => {
        while (Date.now() < deadline) {
          const n = counter++;
          const token = tokens[n % tokens.length]!;
          const email = `flow-${n}-${randomBytes(3).toString("hex")}@bench.example`;
          const started = performance.now();
          const codeArrived = new Promise<string>((r) => waiting.set(email, r));
          const sent = await fetch(`${target}/otp/send`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ usage: "update_userinfo", email }),
          });
          if (!sent.ok) {
            errors++;
            await sent.text();
            continue;
          }
          const { otp_token } = (await sent.json()) as { otp_token: string };
          const answered = performance.now();
          const code = codes.get(email) ?? (await codeArrived);
          const coded = performance.now();
          waiting.delete(email);
          codes.delete(email);
          const patched = await fetch(`${target}/userinfo`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ email, email_otp_token: otp_token, email_otp: code }),
          });
          await patched.text();
          if (!patched.ok) errors++;
          const ended = performance.now();
          latencies.push(ended - started);
          steps.send.push(answered - started);
          steps.code.push(coded - answered);
          steps.patch.push(ended - coded);
        }
      };
      const flowStarted = Date.now();
      await Promise.all(Array.from({ length: FLOW_CLIENTS }, worker));
      latencies.sort((a, b) => a - b);
      const pct = (p: number) =>
        Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0);
      const ms = (values: number[]) => (values.length === 0 ? 0 : median(values).toFixed(1));
      return {
        seconds,
        flowsPerSecond: (latencies.length / (Date.now() - flowStarted)) * 1000,
        p50: pct(50),
        p99: pct(99),
        errors,
        send50: ms(steps.send),
        code50: ms(steps.code),
        patch50: ms(steps.patch),
      };
    };

    const out: string[] = [
      `userinfo-bff benchmark, ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      `database: ${databaseSettings}; load generator on the same machine; load average before the run ${(await import("node:os")).loadavg()[0]!.toFixed(1)}`,
      "",
    ];

    if (!args["skip-main"]) {
      const fairWrite = await startCeiling("bench/ceiling.ts", "write");
      const fairRead = await startCeiling("bench/ceiling.ts", "read");
      const oldCeiling = await startCeiling("bench/ceiling.mjs", "write");

      interface Scenario {
        readonly name: string;
        readonly target: Target;
        readonly kind: Kind;
        readonly results: Measured[];
      }
      const scenario = (name: string, target: Scenario["target"], kind: Kind): Scenario => ({
        name,
        target,
        kind,
        results: [],
      });
      const scenarios = [
        scenario("fair write ceiling: token cache + the gateway's write statement", fairWrite, PATCH),
        scenario("REST PATCH /userinfo (nickname)", gateway, PATCH),
        scenario("REST PATCH /userinfo (nickname), a new Idempotency-Key each", gateway, KEYED_PATCH),
        scenario("GraphQL updateUserInfo (nickname)", gateway, GRAPHQL),
        scenario("fair read ceiling: token cache + SELECT by key", fairRead, GET),
        scenario("REST GET /userinfo", gateway, GET),
        scenario("old ceiling: ES256 on every request + bare UPDATE", oldCeiling, PATCH),
      ];
      const [write, rest, keyed, graphql, read, get, old] = scenarios as [
        Scenario,
        Scenario,
        Scenario,
        Scenario,
        Scenario,
        Scenario,
        Scenario,
      ];
      const only = args.only;
      const pattern = only === undefined ? undefined : new RegExp(only);
      let selected = pattern === undefined ? scenarios : scenarios.filter((s) => pattern.test(s.name));
      // --only may name the OTP flow too ("OTP flow"): measured every round like the scenarios.
      const flowTargets: { name: string; base: string }[] = pattern?.test(OTP_FLOW) ? [{ name: OTP_FLOW, base }] : [];
      if (selected.length === 0 && flowTargets.length === 0) {
        throw new Error(`--only ${only}: no scenario's name contains it`);
      }
      if (args.against !== undefined) {
        if (only === undefined) throw new Error("--against needs --only");
        // The same database server by URL (the embedded one serves its owner only).
        const against = await startGateway({ DATABASE_URL: databaseUrl }, resolve(args.against));
        selected = selected.flatMap((s) =>
          s.target === gateway ? [s, scenario(`${s.name} [${args.against}]`, against, s.kind)] : [s],
        );
        if (flowTargets.length > 0) flowTargets.push({ name: `${OTP_FLOW} [${args.against}]`, base: against.base });
      }
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate the order, so that neither side of a ratio always runs first.
        const order = round % 2 === 0 ? selected : [...selected].reverse();
        for (const s of order) {
          const result = await measure([s.target], s.kind, tokens, CONNECTIONS, DURATION);
          s.results.push(result);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} ${s.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99} ms, ${Math.round(result.cpuUs)} us CPU/request\n`,
          );
        }
        for (const f of round % 2 === 0 ? flowTargets : [...flowTargets].reverse()) {
          const result = await otpFlow(f.base, DURATION);
          process.stderr.write(
            `round ${round + 1}/${ROUNDS} ${f.name}: ${Math.round(result.flowsPerSecond)} flows/s, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors}; median send ${result.send50} ms, code ${result.code50} ms, PATCH ${result.patch50} ms\n`,
          );
        }
      }
      // --only: the lines above are the measurement.
      if (only !== undefined) return;
      const rssAfterLoad = rssMb(gateway.child.pid);

      // The change events of the load above are still being delivered by the gateway's outbox dispatcher while the
      // flow runs (as they would be in production): how many, for reading the flow's numbers.
      const pendingEvents = async () => {
        const db = new pg.Client({ connectionString: databaseUrl });
        await db.connect();
        const { rows } = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM outbox_events WHERE status = 'pending'",
        );
        await db.end();
        return rows[0]!.n;
      };
      const pendingBefore = await pendingEvents();
      const flow = await otpFlow(base, Math.max(DURATION, 5));
      const pendingAfter = await pendingEvents();
      const { flowsPerSecond, errors: flowErrors } = flow;
      const rssAfterRun = rssMb(gateway.child.pid);

      const ratio = (a: Scenario, b: Scenario) => median(a.results.map((r, i) => r.rps / b.results[i]!.rps));
      const cell = (s: Scenario) => {
        const rps = s.results.map((r) => Math.round(r.rps));
        return [
          s.name,
          Math.round(median(rps)),
          rps.join(" / "),
          median(s.results.map((r) => r.p50)),
          median(s.results.map((r) => r.p99)),
          Math.round(median(s.results.map((r) => r.cpuUs))),
          s.results.reduce((sum, r) => sum + r.errors, 0),
          rssMb(s.target.child.pid),
        ];
      };
      const cpuRatio = (a: Scenario, b: Scenario) => median(a.results.map((r, i) => r.cpuUs / b.results[i]!.cpuUs));
      const restRatio = ratio(rest, write);
      const graphqlRatio = ratio(graphql, rest);
      const getRatio = ratio(get, read);
      const p99s = [rest, graphql, get].map((s) => median(s.results.map((r) => r.p99)));
      const verdict = (ok: boolean) => (ok ? "ok" : "MISSED");
      out.push(
        `${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s per scenario (after a warm-up: every token once, then ${WARM_UP_SECONDS} s), order alternating; ${USERS} users/tokens; token cache ${TOKEN_CACHE_SIZE} in gateway and fair ceilings`,
        "",
        line(["scenario", "req/s (median)", "req/s per round", "p50 ms", "p99 ms", "CPU us/req", "errors", "RSS MB"]),
        line(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
        ...scenarios.map((s) => line(cell(s))),
        line([
          `${OTP_FLOW}, ${FLOW_CLIENTS} clients, ${flow.seconds} s`,
          `${Math.round(flowsPerSecond)} flows/s`,
          "-",
          flow.p50,
          flow.p99,
          "-",
          flowErrors,
          rssAfterRun,
        ]),
        "",
        `OTP flow, median ms per step: send ${flow.send50} (code at the webhook ${flow.code50} after the send's answer), PATCH ${flow.patch50}; change events waiting for the outbox dispatcher: ${pendingBefore} before the flow, ${pendingAfter} after`,
        "",
        "ratios (median of the per-round ratios):",
        `  REST PATCH / fair write  = ${restRatio.toFixed(2)}   (target >= 0.85) ${verdict(restRatio >= 0.85)}`,
        `  GraphQL / REST PATCH     = ${graphqlRatio.toFixed(2)}   (target >= 0.90) ${verdict(graphqlRatio >= 0.9)}`,
        `  keyed / REST PATCH       = ${ratio(keyed, rest).toFixed(2)}   (Idempotency-Key; target >= 0.85) ${verdict(ratio(keyed, rest) >= 0.85)}`,
        `  GET / fair read          = ${getRatio.toFixed(2)}   (target >= 0.85) ${verdict(getRatio >= 0.85)}`,
        `  CPU per request, gateway / ceiling: PATCH ${cpuRatio(rest, write).toFixed(2)}, GraphQL ${cpuRatio(graphql, write).toFixed(2)}, GET ${cpuRatio(get, read).toFixed(2)}   (1.00: no overhead)`,
        `  REST PATCH / old ceiling = ${ratio(rest, old).toFixed(2)}   (reference only)`,
        `  fair write / old ceiling = ${ratio(write, old).toFixed(2)}   (what the token cache and the statement are worth)`,
        "targets:",
        `  p99 <= 25 ms at ${CONNECTIONS} connections (REST PATCH, GraphQL, GET): ${p99s.join(", ")} ${verdict(p99s.every((p) => p <= 25))}`,
        `  gateway RSS <= 200 MB after the run: ${rssAfterRun} (after the load: ${rssAfterLoad}) ${verdict(rssAfterRun <= 200)}`,
        `  OTP flow >= 200 flows/s: ${Math.round(flowsPerSecond)} ${verdict(flowsPerSecond >= 200)}`,
        ...(args.embedded
          ? [
              `  embedded database processes <= 150 MB together (PSS): ${databaseMemoryMb()} ${verdict(databaseMemoryMb() <= 150)}`,
            ]
          : []),
        `  every request succeeded: ${verdict(scenarios.every((s) => s.results.every((r) => r.errors === 0)) && flowErrors === 0)}`,
        "",
      );
      process.stdout.write(`${out.join("\n")}\n`);
      out.length = 0;
      // Their database connections are not needed any more: the growth scenarios need them for gateways.
      for (const ceiling of [fairWrite, fairRead, oldCeiling]) ceiling.child.kill("SIGTERM");
    }

    if (args.growth) {
      const seconds = Number(args["growth-duration"]);
      const sizes = numbers(args.sizes);
      const processCounts = numbers(args.processes);
      const connectionCounts = numbers(args.conns);
      const gateways = [gateway];
      for (let n = 1; n < Math.max(...processCounts); n++) {
        // The extra processes reach the same database server by URL (the embedded one serves its owner only).
        gateways.push(await startGateway({ DATABASE_URL: databaseUrl }));
      }
      interface GrowthRow {
        users: number;
        processes: number;
        connections: number;
        patch: Measured;
        get: Measured;
      }
      const rows: GrowthRow[] = [];
      let seeded = USERS;
      for (const size of sizes) {
        if (size > seeded) {
          const started = Date.now();
          await seedUsers(databaseUrl, seeded, size);
          seeded = size;
          process.stderr.write(`seeded ${size} users in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        }
        // Users spread over the whole table, so that reads and writes reach all of it.
        const sample = Array.from({ length: 2000 }, (_, i) => `bench-${Math.floor(((i + 0.5) / 2000) * size)}`);
        const growthTokens = await signTokens(privateKey, sample);
        for (const processes of processCounts) {
          const targets = gateways.slice(0, processes);
          for (const connections of connectionCounts) {
            const patch = await measure(targets, PATCH, growthTokens, connections, seconds);
            const get = await measure(targets, GET, growthTokens, connections, seconds);
            rows.push({ users: size, processes, connections, patch, get });
            process.stderr.write(
              `growth ${size} users, ${processes} processes, ${connections} connections: PATCH ${Math.round(patch.rps)} req/s (p99 ${patch.p99} ms), GET ${Math.round(get.rps)} req/s (p99 ${get.p99} ms)\n`,
            );
          }
        }
      }
      const usersLabel = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
      out.push(
        `growth: PATCH and GET, ${seconds} s each after a warm-up (every token once, then ${WARM_UP_SECONDS} s); 2000 tokens spread over the users; gateway processes on separate ports, connections spread evenly; pool ${POOL_SIZE} per process`,
        "",
        line(["users", "processes", "connections", "PATCH req/s", "PATCH p99 ms", "GET req/s", "GET p99 ms", "errors"]),
        line(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
        ...rows.map((r) =>
          line([
            usersLabel(r.users),
            r.processes,
            r.connections,
            Math.round(r.patch.rps),
            r.patch.p99,
            Math.round(r.get.rps),
            r.get.p99,
            r.patch.errors + r.get.errors,
          ]),
        ),
        "",
      );
      const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
      const series = (size: number): Series[] =>
        processCounts.flatMap((processes, p) =>
          (["patch", "get"] as const).map((op) => ({
            name: `${op === "patch" ? "PATCH" : "GET"}, ${processes} process${processes === 1 ? "" : "es"}`,
            color: colors[p % colors.length]!,
            ...(op === "get" ? { dash: "6 4" } : {}),
            values: connectionCounts.map(
              (c) => rows.find((r) => r.users === size && r.processes === processes && r.connections === c)![op].rps,
            ),
          })),
        );
      const chart = lineChartSvg({
        title: `userinfo-bff: req/s by users, gateway processes and connections (${args.embedded ? "embedded PostgreSQL 18" : "PostgreSQL"}, ${cpus().length} cores)`,
        xLabel: "connections",
        yLabel: "requests/s",
        categories: connectionCounts.map(String),
        panels: sizes.map((size) => ({ title: `${usersLabel(size)} users`, series: series(size) })),
      });
      const chartFile = join(
        ROOT,
        "docs",
        args.embedded ? "performance-growth-embedded.svg" : "performance-growth.svg",
      );
      writeFileSync(chartFile, chart);
      out.push(`chart: ${chartFile}`);
      process.stdout.write(`${out.join("\n")}\n`);
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : undefined,
      ),
    );
    closeReceiver();
    await dropDatabase?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
