import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Child, eventually, freePort, spawnChild } from "../support/child.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { emulateDockerBuild, type Image } from "../support/dockerfile.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";

const ROOT = resolve(import.meta.dirname, "../..");
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
/** `npm start`'s command without the shell's `exec`: the gateway as every deployment starts it. */
const _START_COMMAND = packageJson.scripts.start!.replace(/^exec /, "").split(" ");

/** CPU time (user + system) a process has used so far, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

// It installs ~700 MB, so vitest.config.ts collects it only in the runs on a named PostgreSQL server
// (TEST_DATABASE_URL, production's database), and as root (the Dockerfile's chown and USER need it, as `docker
// build` has it).
describe("the container image, built without a container engine", () => {
  let root: string;
  let image: Image;
  let database: TestDatabase;
  let issuer: TestIssuer;
  let gateway: Child | undefined;
  let env: Record<string, string>;
  let port: number;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "userinfo-image-"));
    // An embedded database server run as another user (as root: postgres) must get through to DATA_DIR inside.
    chmodSync(root, 0o711);
    image = emulateDockerBuild(ROOT, "Dockerfile", root);
    database = await createTestDatabase();
    issuer = await createTestIssuer(root);
    port = await freePort();
    env = {
      ...image.env,
      PATH: process.env
        .PATH!.split(":")
        .filter((dir) => !dir.includes("node_modules/.bin"))
        .join(":"),
      PORT: String(port),
      DATABASE_URL: database.url,
      AUTH_JWKS_FILE: issuer.jwksFile,
      AUTH_ISSUER: issuer.issuer,
      OTP_DELIVERY: "webhook",
      OTP_WEBHOOK_URL: "http://127.0.0.1:9/otp",
      OTP_WEBHOOK_SECRET: "s3cret-webhook-key",
      API_DOCS: "true",
    };
  }, 900_000);
  afterAll(async () => {
    gateway?.child.kill("SIGKILL");
    await database?.close();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  const asUser = () => (image.user === undefined ? {} : { uid: image.user.uid, gid: image.user.gid });
  const run = (command: readonly string[], extra: Record<string, string | undefined> = {}) => {
    const result = spawnSync(command[0]!, command.slice(1), {
      cwd: image.workdir,
      env: { ...env, ...extra },
      encoding: "utf8",
      ...asUser(),
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it("installs production dependencies only, in at most half the 424 MB of the tree that compiled on every start", () => {
    const modules = join(image.workdir, "node_modules");
    // Build tools, test tools, and @prisma/client, whose runtime (with the generated client) is bundled into dist/.
    for (const tool of ["typescript", "tsx", "esbuild", "prisma", "@prisma/client", "vitest", "vite", "pino-pretty"]) {
      expect(existsSync(join(modules, tool)), tool).toBe(false);
    }
    expect(existsSync(join(modules, "@prisma/adapter-pg"))).toBe(true);
    expect(existsSync(join(image.workdir, "src"))).toBe(false);
    const kib = Number(execFileSync("du", ["-sk", modules], { encoding: "utf8" }).split("\t")[0]);
    process.stdout.write(`production node_modules: ${Math.round(kib / 1024)} MB\n`);
    expect(kib).toBeLessThanOrEqual(212 * 1024);
    expect(image.user).toEqual({ uid: 1000, gid: 1000 });
  });

  it("runs the CMD as the non-root USER: healthy, serving, and stopped by the STOPSIGNAL with exit 0", async () => {
    const started = performance.now();
    gateway = spawnChild(image.cmd[0]!, image.cmd.slice(1), { cwd: image.workdir, env, ...asUser() });
    let cpuAtReady = 0;
    await eventually(async () => {
      if (gateway!.child.exitCode !== null) throw new Error(`exited:\n${gateway!.output()}`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) cpuAtReady = cpuMs(gateway!.child.pid!);
      return ready;
    });
    const wallMs = Math.round(performance.now() - started);
    process.stdout.write(`start to healthy: ${wallMs} ms wall, ${cpuAtReady} ms CPU\n`);
    // CPU time rather than wall time: the suite shares the machine with itself. The bundle needs ~1 s; the unbundled
    // tree needed ~2 s.
    expect(cpuAtReady).toBeLessThanOrEqual(1500);
    expect(gateway.output()).toContain('"database":"postgresql"');
    expect(gateway.output()).not.toContain("embedded database");

    expect(run(image.healthcheck)).toEqual({ code: 0, stdout: '200 {"status":"ready"}\n', stderr: "" });

    const response = await fetch(`http://127.0.0.1:${port}/userinfo`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${await issuer.token("packaged")}`, "content-type": "application/json" },
      body: JSON.stringify({ nickname: "Packaged" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: "packaged", nickname: "Packaged" });

    // The description, the docs page's assets (from node_modules of the production tree) and the tRPC face.
    const document = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    expect(document.status).toBe(200);
    expect(await document.json()).toMatchObject({ openapi: expect.stringMatching(/^3\.1\./) });
    expect((await fetch(`http://127.0.0.1:${port}/docs`)).status).toBe(200);
    const bundle = await fetch(`http://127.0.0.1:${port}/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
    const trpc = await fetch(`http://127.0.0.1:${port}/trpc/userInfo`, {
      headers: { authorization: `Bearer ${await issuer.token("packaged")}` },
    });
    expect(trpc.status).toBe(200);
    expect(await trpc.json()).toMatchObject({ result: { data: { sub: "packaged", nickname: "Packaged" } } });

    // The operator CLI of the same tree, beside the running gateway.
    expect(
      run(["node", "dist/cli.js", "apps", "add", "mobile", "--secret", "s3cret", "--claims", "name,email"]),
    ).toMatchObject({
      code: 0,
      stdout: "application mobile saved with claims name,email\n",
    });
    expect(run(["node", "dist/cli.js", "apps", "list"]).stdout).toBe("mobile\tname,email\n");
    expect(run(["node", "dist/cli.js", "migrate"]).stdout).toBe("database is up to date\n");

    gateway.child.kill(image.stopSignal);
    expect((await gateway.exited).code).toBe(0);
    expect(gateway.output()).toContain('"msg":"shutdown complete"');
    const unhealthy = run(image.healthcheck);
    expect(unhealthy.code).toBe(1);
    expect(unhealthy.stdout).toMatch(/^unhealthy: fetch failed/);
  });

  it("mints development tokens with the CLI of the production tree, into DATA_DIR", () => {
    const dev = { AUTH_JWKS_FILE: undefined, AUTH_ISSUER: undefined, AUTH_DEV_ISSUER: "true" };
    const refused = run(["node", "dist/cli.js", "token", "alice"], dev);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `error: no development key in DATA_DIR=${join(image.workdir, ".data")}: set DATA_DIR to the data directory of the gateway ` +
        "that should accept the token (it creates the key on its first start), or pass --create-key to create one there\n",
    );
    const minted = run(["node", "dist/cli.js", "token", "alice", "--create-key"], dev);
    expect(minted.code).toBe(0);
    expect(minted.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });

  it("runs npm start in the production tree without building, and stops it with SIGTERM to npm", async () => {
    const built = readFileSync(join(image.workdir, "dist/.built"), "utf8");
    const npm = spawnChild("npm", ["start"], {
      cwd: image.workdir,
      env: { ...env, HOME: root, npm_config_update_notifier: "false" },
    });
    let pid: string | undefined;
    try {
      [, pid] = await npm.waitFor(/"pid":(\d+),"msg":"gateway listening"/);
      expect(readFileSync(join(image.workdir, "dist/.built"), "utf8")).toBe(built);
      npm.child.kill("SIGTERM");
      await npm.exited;
      await eventually(() => !existsSync(`/proc/${pid}`));
      expect(npm.output()).toContain('"msg":"shutdown complete"');
    } finally {
      if (npm.child.exitCode === null) npm.child.kill("SIGKILL");
      if (pid !== undefined && existsSync(`/proc/${pid}`)) process.kill(Number(pid), "SIGKILL");
    }
  });
});
