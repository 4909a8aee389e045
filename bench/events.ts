// npm run bench:events [-- --duration 10] [--connections 32] [--outage 60]
// What change events cost and whether they survive an outage (SPEC 5.4, issue 14), on PostgreSQL (BENCH_DATABASE_URL,
// TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres), the gateway built and run as `npm start` runs it:
//  1. REST PATCH /userinfo (nickname) req/s without an events webhook and with one that answers 204, alternately,
//     twice each; every event must reach the receiver (deduplicated by webhook-id).
//  2. The receiver down for --outage seconds while PATCHes continue at a modest rate: nothing may be lost, and the
//     backlog must drain once it is back (printed: backlog at its peak, time to drain).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { createBenchIssuer, freePort, ISSUER, signTokens } from "./issuer.js";

const ROOT = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    users: { type: "string", default: "1000" },
    outage: { type: "string", default: "60" },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const USERS = Number(args.users);
const OUTAGE_SECONDS = Number(args.outage);
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0; // it ended
  }
}

/** The PostgreSQL backends serving `database` (their process titles name it), and the CPU they used so far. */
function backendsCpu(database: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (title.startsWith("postgres: ") && title.includes(` ${database} `))
        found.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Measures the CPU a run costs the gateway process and its database backends (in this contended machine's noise,
 * CPU per request is steadier than requests per second; a backend that ends during the run is not counted).
 */
async function withCpu<T>(gatewayPid: number, database: string, run: () => Promise<T>) {
  const gateway0 = cpuSeconds(gatewayPid);
  const backends0 = backendsCpu(database);
  const result = await run();
  const gateway = cpuSeconds(gatewayPid) - gateway0;
  let backends = 0;
  for (const [pid, used] of backendsCpu(database)) backends += used - (backends0.get(pid) ?? 0);
  return { result, gatewayCpu: gateway, databaseCpu: backends };
}

/** The events receiver: answers 204 and keeps each webhook-id once (receivers deduplicate by it). */
function eventsReceiver(port: number) {
  const ids = new Set<string>();
  let posts = 0;
  let server: Server | undefined;
  return {
    ids,
    posts: () => posts,
    async up() {
      server = createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          posts++;
          ids.add(String(req.headers["webhook-id"]));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => server!.listen(port, "127.0.0.1", r));
    },
    async down() {
      server?.closeAllConnections();
      await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
      server = undefined;
    },
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "userinfo-bench-events-"));
  chmodSync(dir, 0o711);
  const admin =
    process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `userinfo_bench_events_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  let gateway: ChildProcess | undefined;
  const db = new pg.Client({ connectionString: databaseUrl });
  try {
    const { jwksFile, privateKey } = await createBenchIssuer(dir);
    const subs = Array.from({ length: USERS }, (_, i) => `bench-${i}`);
    const tokens = await signTokens(privateKey, subs);
    const receiverPort = await freePort();
    const receiver = eventsReceiver(receiverPort);
    await receiver.up();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const startArgs = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }
    ).scripts.start
      .split(" ")
      .filter((_word, i, words) => i > words.indexOf("node"));

    const start = async (events: boolean) => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        NODE_ENV: "production",
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: join(dir, "data"),
        DATABASE_URL: databaseUrl,
        DATABASE_POOL_SIZE: "10",
        AUTH_JWKS_FILE: jwksFile,
        AUTH_ISSUER: ISSUER,
        OTP_DELIVERY: "log",
        ALLOW_LOG_DELIVERY: "true",
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error",
        ...(events && {
          EVENTS_WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/events`,
          EVENTS_WEBHOOK_SECRET: SECRET,
        }),
      };
      const child = spawn(process.execPath, startArgs, { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
      for (let i = 0; i < 600; i++) {
        if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
        try {
          if ((await fetch(`${base}/readyz`)).ok) return child;
        } catch {
          // not listening yet
        }
        await sleep(100);
      }
      throw new Error("the gateway never became ready");
    };
    const stop = async (child: ChildProcess) => {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
    };

    const patchLoad = async (seconds: number, connections = CONNECTIONS, rate?: number) => {
      let i = 0;
      const result = await autocannon({
        url: `${base}/userinfo`,
        connections,
        duration: seconds,
        ...(rate !== undefined && { overallRate: rate }),
        requests: [
          {
            method: "PATCH",
            setupRequest: (req) => {
              const n = i++;
              return {
                ...req,
                headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, "content-type": "application/json" },
                body: JSON.stringify({ nickname: `nick-${n % 997}` }),
              };
            },
          },
        ],
      });
      return { rps: result.requests.average, p99: result.latency.p99, errors: result.non2xx + result.errors };
    };

    await db.connect();
    const count = async (where: string) =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox_events WHERE ${where}`)).rows[0]!.n);
    const waitDrained = async (timeoutMs: number) => {
      const started = Date.now();
      while ((await count("status = 'pending'")) > 0) {
        if (Date.now() - started > timeoutMs) throw new Error("the backlog did not drain");
        await sleep(200);
      }
      return (Date.now() - started) / 1000;
    };

    // 1. Throughput without and with the events webhook, alternately.
    const rows: {
      scenario: string;
      rps: number;
      p99: number;
      errors: number;
      requests: number;
      gatewayCpu: number;
      databaseCpu: number;
    }[] = [];
    let writtenWithWebhook = 0;
    for (let round = 0; round < 2; round++) {
      for (const events of [false, true]) {
        gateway = await start(events);
        if (round === 0 && !events) {
          await db.query(
            `INSERT INTO users (sub, created_at, updated_at) SELECT unnest($1::text[]), now(), now() ON CONFLICT DO NOTHING`,
            [subs],
          );
        }
        const writtenBefore = await count("true");
        await patchLoad(Math.min(3, DURATION)); // warm-up
        // CPU counted until this run's events are delivered (to the receiver, or to the log).
        const measured = await withCpu(gateway.pid!, name, async () => {
          const load = await patchLoad(DURATION);
          await waitDrained(120_000);
          return load;
        });
        const result = measured.result;
        rows.push({
          scenario: events ? "events webhook (204)" : "no events webhook",
          ...result,
          requests: result.rps * DURATION,
          gatewayCpu: measured.gatewayCpu,
          databaseCpu: measured.databaseCpu,
        });
        process.stderr.write(`${rows.at(-1)!.scenario}: ${Math.round(result.rps)} req/s\n`);
        if (events) writtenWithWebhook += (await count("true")) - writtenBefore;
        await stop(gateway);
        gateway = undefined;
      }
    }
    const mean = (scenario: string) => {
      const picked = rows.filter((r) => r.scenario === scenario);
      return picked.reduce((sum, r) => sum + r.rps, 0) / picked.length;
    };
    const baseline = mean("no events webhook");
    const withEvents = mean("events webhook (204)");
    const cpuPerRequest = (scenario: string, part: "gatewayCpu" | "databaseCpu" | "both") => {
      const picked = rows.filter((r) => r.scenario === scenario);
      const cpu = picked.reduce((sum, r) => sum + (part === "both" ? r.gatewayCpu + r.databaseCpu : r[part]), 0);
      return (cpu / picked.reduce((sum, r) => sum + r.requests, 0)) * 1e6; // microseconds
    };
    const receivedInRuns = receiver.ids.size;

    // 2. The receiver down for OUTAGE_SECONDS while PATCHes continue (200/s), then back.
    gateway = await start(true);
    const before = receiver.ids.size;
    const writtenBefore = await count("true");
    await receiver.down();
    const outageStarted = Date.now();
    const outageLoad = await patchLoad(Math.min(20, OUTAGE_SECONDS), 8, 200);
    const postsBefore = receiver.posts();
    let peak = 0;
    while (Date.now() - outageStarted < OUTAGE_SECONDS * 1000) {
      peak = Math.max(peak, await count("status = 'pending'"));
      await sleep(1000);
    }
    peak = Math.max(peak, await count("status = 'pending'"));
    await receiver.up();
    const drainSeconds = await waitDrained(10 * 60_000);
    const written = (await count("true")) - writtenBefore;
    const arrived = receiver.ids.size - before;
    const dead = await count("status = 'dead'");

    const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
    const ratio = withEvents / baseline;
    const out = [
      `userinfo-bff change events benchmark, ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores, Node ${process.version}`,
      `PostgreSQL on loopback (synchronous_commit=off), pool 10; ${CONNECTIONS} connections, ${DURATION} s per run, ${USERS} users`,
      "",
      line([
        "REST PATCH /userinfo (nickname)",
        "req/s",
        "p99 ms",
        "errors",
        "gateway CPU µs/req",
        "database CPU µs/req",
      ]),
      line(["---", "---:", "---:", "---:", "---:", "---:"]),
      ...rows.map((r) =>
        line([
          r.scenario,
          Math.round(r.rps),
          r.p99,
          r.errors,
          Math.round((r.gatewayCpu / r.requests) * 1e6),
          Math.round((r.databaseCpu / r.requests) * 1e6),
        ]),
      ),
      "",
      `events webhook / none, req/s: ${ratio.toFixed(3)} (${((1 - ratio) * 100).toFixed(1)} % lost; target <= 10 %) ${ratio >= 0.9 ? "ok" : "MISSED"}`,
      `CPU per request (gateway + its database backends, until the events are delivered): ${Math.round(cpuPerRequest("no events webhook", "both"))} µs without, ${Math.round(cpuPerRequest("events webhook (204)", "both"))} µs with the webhook: +${((cpuPerRequest("events webhook (204)", "both") / cpuPerRequest("no events webhook", "both") - 1) * 100).toFixed(1)} % (gateway alone +${((cpuPerRequest("events webhook (204)", "gatewayCpu") / cpuPerRequest("no events webhook", "gatewayCpu") - 1) * 100).toFixed(1)} %)`,
      `webhook runs: ${writtenWithWebhook} events written, ${receivedInRuns} distinct webhook-ids received ${writtenWithWebhook === receivedInRuns ? "ok" : "MISSED"}`,
      "",
      `outage: receiver down ${OUTAGE_SECONDS} s, ${Math.round(outageLoad.rps * Math.min(20, OUTAGE_SECONDS))} PATCHes meanwhile (${outageLoad.errors} errors)`,
      `  backlog at its peak: ${peak} pending; drained ${drainSeconds.toFixed(1)} s after the receiver came back`,
      `  events written: ${written}, arrived at the receiver: ${arrived} (${receiver.posts() - postsBefore} POSTs), dead: ${dead} ${arrived === written && dead === 0 ? "ok: nothing lost" : "MISSED"}`,
    ].join("\n");
    process.stdout.write(`${out}\n`);
    await stop(gateway);
    gateway = undefined;
    await receiver.down();
  } finally {
    if (gateway !== undefined) gateway.kill("SIGKILL");
    await db.end().catch(() => undefined);
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
