import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

/** What the lock file records about the process that holds a data directory. */
export interface LockHolder {
  readonly pid: number;
  /** Where the holder serves the embedded database, so that the CLI can reach it through the holder. */
  readonly databaseUrl: string | undefined;
  readonly startedAt: string;
}

/** The data directory is held by another live process. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `data directory ${dataDir} is in use by process ${holder.pid} (since ${holder.startedAt}); ` +
        "stop it, or set DATA_DIR to another directory",
    );
  }
}

/** An exclusive hold on a data directory; release it when done. */
export interface DataDirLock {
  /** Records where the embedded database is served. */
  update(databaseUrl: string): void;
  release(): void;
}

const lockFile = (dataDir: string) => join(dataDir, "gateway.lock");

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The live process holding `dataDir`, if any. */
export function readLockHolder(dataDir: string): LockHolder | undefined {
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(lockFile(dataDir), "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
  return Number.isInteger(holder.pid) && isAlive(holder.pid) ? holder : undefined;
}

/**
 * Takes the data directory for this process. PGlite has no lock of its own: two processes on one directory would
 * silently diverge, so the second one is refused. A lock left by a dead process is taken over.
 * @throws DataDirLockedError naming the live holder.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = lockFile(dataDir);
  const write = (databaseUrl: string | undefined, flags: string) => {
    const fd = openSync(path, flags, 0o600);
    try {
      const holder: LockHolder = { pid: process.pid, databaseUrl, startedAt: new Date().toISOString() };
      writeSync(fd, JSON.stringify(holder));
    } finally {
      closeSync(fd);
    }
  };
  for (let attempt = 0; ; attempt++) {
    try {
      write(undefined, "wx");
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
      const holder = readLockHolder(dataDir);
      if (holder !== undefined && holder.pid !== process.pid) throw new DataDirLockedError(dataDir, holder);
      rmSync(path, { force: true });
    }
  }
  let held = true;
  return {
    update: (databaseUrl) => write(databaseUrl, "w"),
    release: () => {
      if (!held) return;
      held = false;
      if (readLockHolder(dataDir)?.pid === process.pid) rmSync(path, { force: true });
    },
  };
}
