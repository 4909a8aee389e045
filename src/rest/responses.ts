import { STATUS_CODES } from "node:http";
import { Response } from "@whatwg-node/fetch";
import { AuthError } from "../auth/errors.js";
import { DomainError, UnavailableError } from "../domain/errors.js";
import type { KeptAnswer } from "../domain/ports.js";
import type { Logger } from "../logger.js";
import { etagOf } from "./conditional.js";

const ERROR_TYPE = "application/json;charset=UTF-8";

/** A `200` JSON response. */
export const ok = (body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status: 200,
    statusText: "OK",
    headers: { "content-type": "application/json", ...headers },
  });

/** `304 Not Modified`: no body, the entity tag. */
export const notModifiedResponse = (etag: string): Response =>
  new Response(null, { status: 304, statusText: "Not Modified", headers: { etag } });

/** The headers an idempotent answer keeps (SPEC 5.2); the rest (`X-Request-Id`, `Date`) belong to each response. */
const KEPT_HEADERS = ["content-type", "etag", "retry-after", "www-authenticate", "cache-control"] as const;

/** A response as kept for an `Idempotency-Key`. */
export async function keptOf(response: Response): Promise<KeptAnswer> {
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: response.status, headers, body: await response.text() };
}

/** A kept answer as the response it was. */
export const responseOf = ({ status, headers, body }: KeptAnswer): Response =>
  new Response(body, { status, statusText: STATUS_CODES[status] ?? "", headers: { ...headers } });

/** A kept answer replayed: byte for byte, with `Idempotent-Replayed: true`. */
export const replay = ({ status, headers, body }: KeptAnswer): Response =>
  new Response(body, {
    status,
    statusText: STATUS_CODES[status] ?? "",
    headers: { ...headers, "idempotent-replayed": "true" },
  });

/** An error response in the Tencent CIAM shape: `{"error": CODE}` plus `error_description` where there is one. */
export function errorResponse(
  status: number,
  error: string,
  description?: string,
  headers: Record<string, string> = {},
): Response {
  const body = description === undefined ? { error } : { error, error_description: description };
  return new Response(JSON.stringify(body), {
    status,
    statusText: STATUS_CODES[status] ?? "",
    headers: { "content-type": ERROR_TYPE, ...headers },
  });
}

/** The one mapping from thrown errors to REST responses. Unexpected errors are logged and masked. */
export function responseForError(error: unknown, log: Logger): Response {
  if (error instanceof AuthError) {
    return errorResponse(error.status, error.code, error.description, { "www-authenticate": error.challenge });
  }
  if (error instanceof DomainError) {
    const headers: Record<string, string> = {};
    if (error.retryAfterSeconds !== undefined) headers["retry-after"] = String(error.retryAfterSeconds);
    if (error.code === "invalid_client") headers["www-authenticate"] = "Basic";
    if (error.currentVersion !== undefined) headers.etag = etagOf(error.currentVersion);
    if (error.maxAgeSeconds !== undefined) {
      headers["www-authenticate"] =
        `Bearer error="insufficient_user_authentication", error_description="${error.description}", max_age=${error.maxAgeSeconds}`;
    }
    return errorResponse(error.status, error.code, error.description, headers);
  }
  if (error instanceof UnavailableError) {
    log.warn({ err: error }, "dependency unavailable");
    return errorResponse(503, "temporarily_unavailable", "The service is temporarily unavailable.", {
      "retry-after": "1",
    });
  }
  log.error({ err: error }, "unexpected error");
  return errorResponse(500, "server_error", "An unexpected error occurred.");
}
