import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.js";
import { UnavailableError } from "../domain/errors.js";
import { UniqueViolation } from "../domain/ports.js";

export { PrismaClient };

const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * A Prisma client on the PostgreSQL (or embedded) database at `url`, through the official pg adapter over a pool
 * this module owns (ended with the client), so that the hottest statements can use the same pool directly.
 */
export function createPrismaClient(url: string, poolSize: number): PrismaClient {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  // An idle connection that dies (database restart, pg_terminate_backend) is dropped by the pool; without a
  // listener its 'error' event would end the process.
  pool.on("error", () => undefined);
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    transactionOptions: { maxWait: 10_000, timeout: 10_000 },
  });
  pools.set(prisma, pool);
  return prisma;
}

/** The pg pool under a client made by {@link createPrismaClient}. */
export const poolOf = (prisma: PrismaClient): pg.Pool | undefined => pools.get(prisma);

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
// PostgreSQL classes 08 (connection), 53 (resources), 57P (operator intervention, e.g. terminated backend), and
// the transient serialization failure and deadlock (40001, 40P01): worth a retry, so 503.
const UNAVAILABLE_SQLSTATE = /^(08|53|57P|40001$|40P01$)/;

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
    cause?.kind === "UniqueConstraintViolation" ? cause.constraint?.index : e.code === "23505" ? e.constraint : undefined;
  const attribute = UNIQUE_INDEXES[violated ?? ""];
  if (attribute !== undefined) return new UniqueViolation(attribute);
  const unavailable =
    e.name === "PrismaClientInitializationError" ||
    (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) ||
    (cause?.kind !== undefined && UNAVAILABLE_KINDS.has(cause.kind)) ||
    (cause?.originalCode !== undefined && UNAVAILABLE_SQLSTATE.test(cause.originalCode)) ||
    (e.name === "error" && e.code !== undefined && UNAVAILABLE_SQLSTATE.test(e.code)) ||
    isConnectionError(error);
  return unavailable ? new UnavailableError("the database is unavailable", { cause: error }) : error;
}

function isConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND)$/.test(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
