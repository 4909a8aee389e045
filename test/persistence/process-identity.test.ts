import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openEmbeddedDatabase } from "../../src/persistence/embedded.js";
import { isRunning, isServerOf, startTimeOf } from "../../src/persistence/process-identity.js";

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

/** A process that runs until the test ends, with `args` on its command line. */
function sleeper(...args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "--", ...args], { stdio: "ignore" });
  children.push(child);
  return child;
}

const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
};

describe("process identity (/proc)", () => {
  it("tells a zombie from a running process", async () => {
    // `sh` starts a short child, then becomes a process that never collects it: the child stays a zombie.
    const shell = spawn("sh", ["-c", "sleep 0.05 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(shell);
    const pid = Number(
      await new Promise<string>((resolve) => shell.stdout!.once("data", (d: Buffer) => resolve(`${d}`))),
    );
    await expect.poll(() => stateOf(pid), { timeout: 5_000 }).toBe("Z");
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(isRunning(pid)).toBe(false);
    expect(isRunning(shell.pid!)).toBe(true);
    expect(isRunning(process.pid)).toBe(true);
  });

  it("knows a data directory's server by its command line, and a process by its start time", async () => {
    const pgdata = "/tmp/some-data/pgdata";
    const server = sleeper("-D", pgdata);
    await expect.poll(() => isServerOf(server.pid!, pgdata)).toBe(true);
    expect(isServerOf(server.pid!, "/tmp/other/pgdata")).toBe(false);
    expect(isServerOf(process.pid, pgdata)).toBe(false);
    const start = startTimeOf(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(startTimeOf(process.pid)).toBe(start);
  });
});

describe("the embedded server after a reboot: recorded pids that now belong to other processes", () => {
  it("starts anyway, and signals none of them", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-leftovers-"));
    // As root the server runs as another user, which must get through to DATA_DIR.
    chmodSync(dataDir, 0o711);
    try {
      const first = await openEmbeddedDatabase(dataDir, 2);
      await first.close();
      // The lock file and the holder record of a server and a gateway that were running when the machine went down,
      // with pids that now belong to an unrelated process.
      const stranger = sleeper("unrelated");
      await expect.poll(() => isRunning(stranger.pid!)).toBe(true);
      const pgdata = join(dataDir, "pgdata");
      writeFileSync(join(pgdata, "postmaster.pid"), `${stranger.pid}\n${pgdata}\n1795900000\n5999\n\n127.0.0.1\n`);
      writeFileSync(join(dataDir, "pg-holder.json"), JSON.stringify({ pid: stranger.pid, started: "1", since: "x" }));
      const second = await openEmbeddedDatabase(dataDir, 2);
      try {
        const client = new pg.Client({ connectionString: second.url });
        await client.connect();
        expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
        await client.end();
        expect(second.pid).not.toBe(stranger.pid);
      } finally {
        await second.close();
      }
      expect(stranger.exitCode).toBeNull();
      expect(isRunning(stranger.pid!)).toBe(true);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
