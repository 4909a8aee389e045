import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";
import { UnavailableError } from "../domain/errors.js";
import { UniqueViolation } from "../domain/ports.js";

export { PrismaClient };

/** A Prisma client on the PostgreSQL (or embedded) database at `url`, through the official pg adapter. */
export function createPrismaClient(url: string, poolSize: number): PrismaClient {
  const adapter = new PrismaPg({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  return new PrismaClient({
    adapter,
    transactionOptions: { maxWait: 10_000, timeout: 10_000 },
  });
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
// PostgreSQL classes 08 (connection), 53 (resources), 57P (operator intervention, e.g. terminated backend).
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;

interface PrismaLikeError {
  code?: string;
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
  if (cause?.kind === "UniqueConstraintViolation") {
    const attribute = UNIQUE_INDEXES[cause.constraint?.index ?? ""];
    if (attribute !== undefined) return new UniqueViolation(attribute);
  }
  const unavailable =
    e.name === "PrismaClientInitializationError" ||
    (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) ||
    (cause?.kind !== undefined && UNAVAILABLE_KINDS.has(cause.kind)) ||
    (cause?.originalCode !== undefined && UNAVAILABLE_SQLSTATE.test(cause.originalCode)) ||
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
