import { readFileSync } from "node:fs";

// Whether a pid recorded in a file is still the process that wrote it. After a restart of the machine or the
// container, a pid in a leftover postmaster.pid or pg-holder.json may belong to any other process: signalling it, or
// refusing to start because of it, would be wrong. Linux tells through /proc; elsewhere a live pid has to do.

/** What /proc says of a process: its state, its start time (clock ticks after boot), its command line. */
interface ProcStat {
  readonly state: string;
  readonly startTicks: string;
  readonly argv: readonly string[];
}

function procStat(pid: number): ProcStat | undefined | "unknown" {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No /proc at all (not Linux): nothing to tell by.
    return code === "ENOENT" && !procAvailable() ? "unknown" : undefined;
  }
  // The command name in parentheses may itself hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  let argv: string[] = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((arg) => arg.length > 0);
  } catch {
    // Gone meanwhile, or hidden: judged by its state alone.
  }
  return { state: fields[0] ?? "", startTicks: fields[19] ?? "", argv };
}

let available: boolean | undefined;
function procAvailable(): boolean {
  if (available === undefined) {
    try {
      readFileSync("/proc/self/stat");
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** Whether `pid` runs and is not a zombie (a zombie has exited; only its parent has not collected it yet). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = procStat(pid);
  return stat === "unknown" || (stat !== undefined && stat.state !== "Z" && stat.state !== "X");
}

/** An identity of a running process that a reused pid does not share: its start time; `undefined` if not known. */
export function startTimeOf(pid: number): string | undefined {
  const stat = procStat(pid);
  return typeof stat === "object" ? stat.startTicks : undefined;
}

/**
 * Whether `pid` is a running PostgreSQL server of the data directory `pgdata` (its command line names it after
 * `-D`). Without /proc, any running process counts.
 */
export function isServerOf(pid: number, pgdata: string): boolean {
  if (!isRunning(pid)) return false;
  const stat = procStat(pid);
  if (stat === "unknown") return true;
  if (stat === undefined || stat.argv.length === 0) return false;
  return stat.argv.some((arg, i) => (arg === pgdata && stat.argv[i - 1] === "-D") || arg === `-D${pgdata}`);
}
