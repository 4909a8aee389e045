// Start to first healthy answer of a built tree in production mode on PostgreSQL: starts the gateway as `npm start`
// runs it (its Node flags, no npm), polls GET /readyz every 5 ms, and reports wall and CPU time (user + system, from
// /proc) until the first 200. The first start on the fresh database applies the migrations; the others find them.
//
//   node scripts/startup-time.mjs [--runs N] [--tree DIR]
//
// The admin URL comes from STARTUP_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres;
// a database is created for the run and dropped after it. --tree: another built tree (default: this checkout).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair } from "jose";
import pg from "pg";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "7" }, tree: { type: "string", default: "." } },
});
const tree = resolve(values.tree);
const admin =
  process.env.STARTUP_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const startArgs = JSON.parse(readFileSync(join(tree, "package.json"), "utf8"))
  .scripts.start.split(" ")
  .filter((_word, i, words) => i > words.indexOf("node"));

const name = `userinfo_startup_${randomBytes(4).toString("hex")}`;
const run = async (sql) => {
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(sql);
  await client.end();
};
const url = new URL(admin);
url.pathname = `/${name}`;
const dir = mkdtempSync(join(tmpdir(), "userinfo-startup-"));
const { publicKey } = await generateKeyPair("ES256");
writeFileSync(
  join(dir, "jwks.json"),
  JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] }),
);

const freePort = () =>
  new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

await run(`CREATE DATABASE ${name}`);
const results = [];
try {
  for (let i = 0; i < Number(values.runs); i++) {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, startArgs, {
      cwd: tree,
      stdio: ["ignore", "ignore", "inherit"],
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "production",
        PORT: String(port),
        DATABASE_URL: url.toString(),
        DATA_DIR: join(dir, "data"),
        AUTH_JWKS_FILE: join(dir, "jwks.json"),
        AUTH_ISSUER: "https://issuer.example",
        OTP_DELIVERY: "webhook",
        OTP_WEBHOOK_URL: "http://127.0.0.1:9/otp",
        OTP_WEBHOOK_SECRET: "secret",
      },
    });
    let cpu;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) {
        cpu = cpuMs(child.pid);
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    results.push({ wall: Math.round(performance.now() - started), cpu });
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
} finally {
  await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  rmSync(dir, { recursive: true, force: true });
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const later = results.slice(1);
console.log(`first start (applies migrations): ${results[0].wall} ms wall, ${results[0].cpu} ms CPU`);
console.log(
  `later starts: ${later.map((r) => r.wall).join(" ")} ms wall (median ${median(later.map((r) => r.wall))}), ` +
    `${later.map((r) => r.cpu).join(" ")} ms CPU (median ${median(later.map((r) => r.cpu))})`,
);
