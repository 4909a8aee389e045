import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const ROOT = resolve(import.meta.dirname, "../..");
/** The Node arguments of `npm start` (the built gateway, `npm run build` runs before the tests). */
const START_ARGS = (
  JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }
).scripts.start
  .split(" ")
  .filter((_word, i, words) => i > words.indexOf("node"));

/** A gateway started as `npm start` would: its own process, configured by the environment. */
export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it logged so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The environment of a child process: the test's own, minus variables that would change its configuration. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of Object.keys(base)) {
    if (
      /^(PORT|HOST|DATA_DIR|DATABASE_URL|AUTH_|JIT_|DEFAULT_CLAIMS|OTP_|SMTP_|NODE_ENV|LOG_LEVEL|EVENTS_|PUBLIC_URL|REVERT_)/.test(
        key,
      )
    )
      delete base[key];
  }
  return { ...base, ...env };
}

/** Spawns the gateway as `npm start` would, collecting everything it writes. */
function spawnGateway(env: Record<string, string>) {
  const child = spawn(process.execPath, START_ARGS, {
    cwd: ROOT,
    env: childEnv({ PORT: "0", ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const listeners: (() => void)[] = [];
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return { child, exited, output: () => output, onOutput: (listener: () => void) => listeners.push(listener) };
}

/** Starts the gateway and waits until it listens (or exits). */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const { child, exited, output, onOutput } = spawnGateway(env);
  const url = await new Promise<string>((done, fail) => {
    onOutput(() => {
      const match = /"url":"(http:\/\/[^"]+)".*"msg":"gateway listening"/.exec(output());
      if (match?.[1] !== undefined) done(match[1]);
    });
    void exited.then((code) => fail(new Error(`gateway exited with ${code}:\n${output()}`)));
  });
  return {
    url,
    child,
    output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the gateway expecting it to exit (killed after `killAfterMs`); returns its exit code and output. */
export async function runGatewayToExit(
  env: Record<string, string>,
  killAfterMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const { child, exited, output } = spawnGateway(env);
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, output: output() };
}

/** Runs the built operator CLI (`node dist/cli.js ...`, as in production) and returns its exit code and output. */
export async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [resolve(ROOT, "dist/cli.js"), ...args], {
      cwd: ROOT,
      env: childEnv(env),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The PostgreSQL postmasters running on `dataDir`'s embedded cluster (PostgreSQL's own postmaster.pid, checked alive). */
export function postmasters(dataDir: string): number[] {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, "pgdata", "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    return [];
  }
  try {
    process.kill(pid, 0);
    return [pid];
  } catch {
    return [];
  }
}
