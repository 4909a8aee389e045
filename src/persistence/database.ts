import pg from "pg";
import { UnavailableError } from "../domain/errors.js";
import { UniqueViolation } from "../domain/ports.js";
import { Prisma, PrismaClient } from "../generated/prisma/client.js";

export { Prisma, PrismaClient };

/**
 * Runs SQL statements (Prisma's tagged `Prisma.sql`, values always bound). Every query module is written against
 * this one interface, whether its statements run inside a transaction or not.
 */
export interface Executor {
  query<T>(sql: Prisma.Sql): Promise<T[]>;
}

/** A database connection: a pg pool; statements and transactions run on it (Prisma supplies types and `Prisma.sql`). */
export interface Database {
  /** Statements outside any transaction, straight on the pool. */
  readonly executor: Executor;
  /** Runs `work` in one transaction on one pooled connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (executor: Executor) => Promise<T>): Promise<T>;
  /** The pool itself, for health checks. */
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/** How long a transaction may run (as Prisma's interactive transactions allowed before): then it is rolled back. */
const TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * Connects to the PostgreSQL database at `url` with a pool of `poolSize` connections. Statements run straight on
 * the pool, transactions on one of its connections (BEGIN ... COMMIT): Prisma's request pipeline cost more CPU than a
 * short statement (measured: +10 % throughput on PATCH), and its interactive transactions 14-29 ms where the same
 * statements in a pg transaction took 2.4-6 ms (an OTP send: 3 statements in a transaction).
 */
export function connectDatabase(url: string, poolSize: number): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  // An idle connection that dies (database restart, pg_terminate_backend) is dropped by the pool; without a
  // listener its 'error' event would end the process.
  pool.on("error", () => undefined);
  const prepared = preparedStatements(PREPARED_STATEMENTS);
  return {
    pool,
    executor: translating({
      query: async <T>(sql: Prisma.Sql) => (await pool.query(prepared(sql))).rows as T[],
    }),
    async transaction(work) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        // No connection within the pool's timeout, or none can be made: either way the database is not usable now.
        throw new UnavailableError("no database connection", { cause: error });
      }
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
      }, TRANSACTION_TIMEOUT_MS).unref();
      const closed = () => new UnavailableError(`the transaction ran longer than ${TRANSACTION_TIMEOUT_MS} ms`);
      const executor = translating({
        query: async <T>(sql: Prisma.Sql) => {
          if (expired) throw closed();
          return (await client.query(prepared(sql))).rows as T[];
        },
      });
      try {
        await client.query("BEGIN");
        const result = await work(executor);
        if (expired) throw closed();
        await client.query("COMMIT");
        client.release();
        return result;
      } catch (error) {
        // A connection that cannot even roll back is broken: the pool discards it instead of reusing it.
        await client.query("ROLLBACK").then(
          () => client.release(),
          (rollbackError: Error) => client.release(rollbackError),
        );
        throw translateDatabaseError(error);
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      if (!pool.ending) await pool.end();
    },
  };
}

/**
 * How many statement texts a process prepares (names) at most. The statements are the query modules' own, a few
 * dozen texts in all (a write's text varies with the attributes it sets); the bound keeps a process that somehow made
 * more from growing every connection's prepared statements on the server without end: beyond it, statements run
 * unnamed, as before.
 */
export const PREPARED_STATEMENTS = 200;

/**
 * Names each statement text (up to `limit` of them), so that pg prepares it once per connection and then only binds
 * and executes it: the server skips parsing, and once a generic plan serves (after five executions, when it costs no
 * more than a custom one), planning. An unnamed statement was parsed and planned on every execution: 0.4 + 0.8 ms of
 * server time for the change of an email address, whose statement ran 0.6 ms (measured in the server's log).
 */
export function preparedStatements(limit: number): (sql: Prisma.Sql) => pg.QueryConfig {
  const names = new Map<string, string>();
  return (sql) => {
    let name = names.get(sql.text);
    if (name === undefined && names.size < limit) {
      name = `userinfo_${names.size}`;
      names.set(sql.text, name);
    }
    const values = sql.values as unknown[];
    return name === undefined ? { text: sql.text, values } : { name, text: sql.text, values };
  };
}

/** An executor whose failures reach the domain in its own terms ({@link translateDatabaseError}). */
function translating(executor: Executor): Executor {
  return {
    async query<T>(sql: Prisma.Sql) {
      try {
        return await executor.query<T>(sql);
      } catch (error) {
        throw translateDatabaseError(error);
      }
    },
  };
}

const UNIQUE_INDEXES: Record<string, "email" | "phone_number"> = {
  users_email_lower_key: "email",
  users_phone_number_key: "phone_number",
};

// Driver adapter error kinds that mean the database could not be used, not that the request was wrong.
const UNAVAILABLE_KINDS = new Set([
  "DatabaseNotReachable",
  "DatabaseDoesNotExist",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
  "TransactionAlreadyClosed",
  "AuthenticationFailed",
]);
const UNAVAILABLE_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028"]);
// PostgreSQL classes 08 (connection), 53 (insufficient resources), 55 (object not in prerequisite state, e.g. a
// database not accepting connections, a lock not available), 57 (operator intervention, e.g. a terminated backend),
// and the transient serialization failure and deadlock (40001, 40P01): worth a retry, so 503 (SPEC 6).
const UNAVAILABLE_SQLSTATE = /^(08|53|55|57|40001$|40P01$)/;
// pg-pool and pg's own timeouts carry no code: no pool connection within `connectionTimeoutMillis` (every connection
// busy), or a server that did not finish the connection handshake in time.
const UNAVAILABLE_MESSAGES = new Set([
  "timeout exceeded when trying to connect",
  "Connection terminated due to connection timeout",
]);

interface PrismaLikeError {
  code?: string;
  /** Set on errors straight from pg: the violated constraint. */
  constraint?: string;
  name?: string;
  meta?: { driverAdapterError?: { cause?: { kind?: string; originalCode?: string; constraint?: { index?: string } } } };
  cause?: unknown;
}

/**
 * Translates a database error into the domain's terms: a unique violation on an address becomes
 * {@link UniqueViolation}, a lost or unreachable database {@link UnavailableError}; anything else is returned as is.
 */
export function translateDatabaseError(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return error;
  const e = error as PrismaLikeError;
  const cause = e.meta?.driverAdapterError?.cause;
  const violated =
    cause?.kind === "UniqueConstraintViolation"
      ? cause.constraint?.index
      : e.code === "23505"
        ? e.constraint
        : undefined;
  const attribute = UNIQUE_INDEXES[violated ?? ""];
  if (attribute !== undefined) return new UniqueViolation(attribute);
  const unavailable =
    e.name === "PrismaClientInitializationError" ||
    (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) ||
    (cause?.kind !== undefined && UNAVAILABLE_KINDS.has(cause.kind)) ||
    (cause?.originalCode !== undefined && UNAVAILABLE_SQLSTATE.test(cause.originalCode)) ||
    (e.name === "error" && e.code !== undefined && UNAVAILABLE_SQLSTATE.test(e.code)) ||
    (error instanceof Error && UNAVAILABLE_MESSAGES.has(error.message)) ||
    isConnectionError(error);
  return unavailable ? new UnavailableError("the database is unavailable", { cause: error }) : error;
}

function isConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND)$/.test(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (
      typeof message === "string" &&
      /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)
    )
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
