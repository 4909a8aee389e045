import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../support/dockerfile.js";

const ROOT = resolve(import.meta.dirname, "../..");
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
/** `npm start`'s command without the shell's `exec`: the gateway as every deployment starts it. */
const START_COMMAND = packageJson.scripts.start!.replace(/^exec /, "").split(" ");

/** CPU time (user + system) a process has used so far, from /proc. */
function _cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

describe("one start command everywhere", () => {
  it("the Dockerfile's CMD and the systemd unit's ExecStart run what npm start runs", () => {
    const runtime = parseDockerfile(readFileSync(join(ROOT, "Dockerfile"), "utf8")).stages.at(-1)!;
    const cmd = runtime.instructions.find((i) => i.keyword === "CMD")!;
    expect(JSON.parse(cmd.args)).toEqual(START_COMMAND);
    const unit = readFileSync(join(ROOT, "deploy/userinfo-bff.service"), "utf8");
    expect(/^ExecStart=\/usr\/bin\/(.*)$/m.exec(unit)?.[1]).toBe(START_COMMAND.join(" "));
    expect(packageJson.scripts.start).toMatch(/^exec node /);
  });
});

describe("npm start's build step (scripts/build.mjs --if-stale)", () => {
  /** A tree with dist/ built at 1,000,000 s and a source changed at `changedAt`, without node_modules (no esbuild). */
  const tree = ({ dist, changedAt }: { dist: boolean; changedAt: number }) => {
    const dir = mkdtempSync(join(tmpdir(), "userinfo-stale-"));
    // An embedded database server run as another user (as root: postgres) must get through to DATA_DIR inside.
    chmodSync(dir, 0o711);
    cpSync(join(ROOT, "scripts/build.mjs"), join(dir, "scripts/build.mjs"));
    utimesSync(join(dir, "scripts/build.mjs"), 500_000, 500_000);
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src/main.ts"), "");
    utimesSync(join(dir, "src/main.ts"), changedAt, changedAt);
    if (dist) {
      mkdirSync(join(dir, "dist"));
      writeFileSync(join(dir, "dist/main.js"), "");
      writeFileSync(join(dir, "dist/.built"), "");
      utimesSync(join(dir, "dist/.built"), 1_000_000, 1_000_000);
    }
    return dir;
  };
  const ifStale = (dir: string, env: Record<string, string>) => {
    const result = spawnSync(process.execPath, ["scripts/build.mjs", "--if-stale"], {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env },
      encoding: "utf8",
    });
    rmSync(dir, { recursive: true, force: true });
    return { code: result.status, stderr: result.stderr };
  };

  it("does nothing when dist/ is newer than the sources", () => {
    expect(ifStale(tree({ dist: true, changedAt: 500_000 }), {})).toEqual({ code: 0, stderr: "" });
  });

  it("never builds with NODE_ENV=production, and says so when there is nothing to run", () => {
    expect(ifStale(tree({ dist: true, changedAt: 2_000_000 }), { NODE_ENV: "production" })).toEqual({
      code: 0,
      stderr: "",
    });
    expect(ifStale(tree({ dist: false, changedAt: 2_000_000 }), { NODE_ENV: "production" })).toEqual({
      code: 1,
      stderr:
        "dist/main.js is missing: npm start does not build with NODE_ENV=production. Run `npm run build` (needs the dev dependencies) and ship dist/.\n",
    });
  });

  it("runs a stale dist/ as it is when the build tools are not installed", () => {
    expect(ifStale(tree({ dist: true, changedAt: 2_000_000 }), {})).toEqual({
      code: 0,
      stderr:
        "dist/ may be older than src/, and the build tools are not installed (npm ci --omit=dev): running it as it is\n",
    });
    expect(ifStale(tree({ dist: false, changedAt: 2_000_000 }), {})).toEqual({
      code: 1,
      stderr:
        "dist/main.js is missing and the build tools are not installed: run `npm ci` (with dev dependencies), then `npm run build`.\n",
    });
  });
});

// The Dockerfile, run step by step on a copy of the repository (test/support/dockerfile.ts): the build stage's
// `npm ci` and `npm run build`, the runtime stage's `npm ci --omit=dev` on the built dist/, then its CMD as its USER.
