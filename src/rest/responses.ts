import { STATUS_CODES } from "node:http";
import { Response } from "@whatwg-node/fetch";
import { AuthError } from "../auth/errors.js";
import { DomainError, UNAVAILABLE_RETRY_AFTER_SECONDS, UnavailableError } from "../domain/errors.js";
import type { KeptAnswer } from "../domain/ports.js";
import type { Logger } from "../logger.js";
import { etagOf } from "./conditional.js";
import { problemType } from "./schemas.js";

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
export const responseOf = (answer: KeptAnswer): Response =>
  withKeptError(
    new Response(answer.body, {
      status: answer.status,
      statusText: STATUS_CODES[answer.status] ?? "",
      headers: { ...answer.headers },
    }),
    answer,
  );

/** A kept answer replayed: byte for byte, with `Idempotent-Replayed: true`. */
export const replay = (answer: KeptAnswer): Response =>
  withKeptError(
    new Response(answer.body, {
      status: answer.status,
      statusText: STATUS_CODES[answer.status] ?? "",
      headers: { ...answer.headers, "idempotent-replayed": "true" },
    }),
    answer,
  );

/** The media type of RFC 9457 problem details. */
export const PROBLEM_JSON = "application/problem+json";

/** How a client reads errors: Tencent CIAM's `{"error", "error_description"}` or RFC 9457 problem details. */
export type ErrorFormat = "tencent" | "problem";

/**
 * The error format an `Accept` header asks for: problem details when it names `application/problem+json` (with a
 * quality above 0, and not below that of `application/json`); Tencent CIAM's bodies otherwise.
 */
export function errorFormatOf(accept: string | null | undefined): ErrorFormat {
  if (accept === null || accept === undefined) return "tencent";
  let problem = 0;
  let json = 0;
  for (const range of accept.split(",")) {
    const [type = "", ...parameters] = range.split(";").map((part) => part.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const quality = q === undefined ? 1 : Number(q.slice(2)) || 0;
    if (type === PROBLEM_JSON) problem = Math.max(problem, quality);
    else if (type === "application/json") json = Math.max(json, quality);
  }
  return problem > 0 && problem >= json ? "problem" : "tencent";
}

/** Problem titles: a short summary of each error code (RFC 9457 `title`). */
const TITLES: Readonly<Record<string, string>> = {
  invalid_request: "Invalid request",
  invalid_token: "Invalid access token",
  insufficient_scope: "Insufficient scope",
  insufficient_user_authentication: "A more recent authentication is required",
  invalid_client: "Invalid client credentials",
  malformed_phone_number: "Malformed phone number",
  malformed_email: "Malformed email",
  illegal_parameter_value: "Illegal parameter value",
  bad_phone_number_otp_token: "Bad phone number OTP token",
  bad_email_otp_token: "Bad email OTP token",
  bad_phone_number_otp: "Bad phone number OTP",
  bad_email_otp: "Bad email OTP",
  duplicate_phone_number: "Phone number already in use",
  duplicate_email: "Email already in use",
  user_not_found: "User not found",
  precondition_failed: "Precondition failed",
  sms_rate_limit_exceeded: "SMS rate limit exceeded",
  email_rate_limit_exceeded: "Email rate limit exceeded",
  too_many_requests: "Too many requests",
  temporarily_unavailable: "Temporarily unavailable",
  server_error: "Server error",
};

/**
 * The one rendering of a REST error, in either format: its content type and body. Problem details carry `type`
 * (`urn:userinfo-bff:error:<code>`), `title`, `status`, `detail` (the description, else the title), and the Tencent
 * members `error` and `error_description` as extensions.
 */
export function errorBody(
  status: number,
  error: string,
  description: string | undefined,
  format: ErrorFormat,
): { readonly contentType: string; readonly body: string } {
  if (format === "tencent") {
    const body = description === undefined ? { error } : { error, error_description: description };
    return { contentType: ERROR_TYPE, body: JSON.stringify(body) };
  }
  const title = TITLES[error] ?? STATUS_CODES[status] ?? error;
  const detail = description ?? `${title}.`;
  const problem = { type: problemType(error), title, status, detail, error, error_description: detail };
  return { contentType: PROBLEM_JSON, body: JSON.stringify(problem) };
}

interface RenderedError {
  readonly error: string;
  readonly description: string | undefined;
}

// The error each error response was built from, so that the route wrapper can render it as the request asks
// (`inErrorFormat`) whichever handler built it.
const errorsOf = new WeakMap<Response, RenderedError>();

/** An error response in the Tencent CIAM shape: `{"error": CODE}` plus `error_description` where there is one. */
export function errorResponse(
  status: number,
  error: string,
  description?: string,
  headers: Record<string, string> = {},
): Response {
  const { contentType, body } = errorBody(status, error, description, "tencent");
  const response = new Response(body, {
    status,
    statusText: STATUS_CODES[status] ?? "",
    headers: { "content-type": contentType, ...headers },
  });
  errorsOf.set(response, { error, description });
  return response;
}

/**
 * `response`, remembered as the error a kept Tencent error body holds: a kept or replayed error is rendered in the
 * format each request asks for, like any other.
 */
function withKeptError(response: Response, answer: KeptAnswer): Response {
  if (answer.status >= 400 && answer.headers["content-type"] === ERROR_TYPE) {
    const { error, error_description } = JSON.parse(answer.body) as { error: string; error_description?: string };
    errorsOf.set(response, { error, description: error_description });
  }
  return response;
}

/** `response` as the request's error format asks: an error response of {@link errorResponse} re-rendered. */
export function inErrorFormat(response: Response, format: ErrorFormat): Response {
  const rendered = errorsOf.get(response);
  if (format === "tencent" || rendered === undefined) return response;
  const { contentType, body } = errorBody(response.status, rendered.error, rendered.description, format);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers["content-type"] = contentType;
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
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
      "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS),
    });
  }
  log.error({ err: error }, "unexpected error");
  return errorResponse(500, "server_error", "An unexpected error occurred.");
}
