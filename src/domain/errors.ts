/** Every wire error code the domain can answer with. REST sends it as `error`, GraphQL as `code`. */
export type ErrorCode =
  | "invalid_request"
  | "malformed_phone_number"
  | "malformed_email"
  | "illegal_parameter_value"
  | "bad_phone_number_otp_token"
  | "bad_email_otp_token"
  | "bad_phone_number_otp"
  | "bad_email_otp"
  | "duplicate_phone_number"
  | "duplicate_email"
  | "user_not_found"
  | "invalid_client"
  | "sms_rate_limit_exceeded"
  | "email_rate_limit_exceeded"
  | "temporarily_unavailable"
  | "too_many_requests"
  | "invalid_revert_token"
  | "precondition_failed"
  | "insufficient_user_authentication";

const statusOf: Record<ErrorCode, number> = {
  invalid_request: 400,
  malformed_phone_number: 400,
  malformed_email: 400,
  illegal_parameter_value: 400,
  bad_phone_number_otp_token: 400,
  bad_email_otp_token: 400,
  bad_phone_number_otp: 400,
  bad_email_otp: 400,
  duplicate_phone_number: 400,
  duplicate_email: 400,
  user_not_found: 404,
  invalid_client: 401,
  sms_rate_limit_exceeded: 400,
  email_rate_limit_exceeded: 400,
  temporarily_unavailable: 503,
  too_many_requests: 429,
  invalid_revert_token: 400,
  precondition_failed: 412,
  insufficient_user_authentication: 401,
};

/** Descriptions the wire contract fixes; other codes carry none unless a rule gives one. */
const fixedDescriptions: Partial<Record<ErrorCode, string>> = {
  sms_rate_limit_exceeded: "SMS rate limit exceeded for same phone number",
  email_rate_limit_exceeded: "Email rate limit exceeded for same email",
  temporarily_unavailable: "Failed to send OTP. Please try again later.",
  precondition_failed: "The profile was changed by another request.",
  insufficient_user_authentication: "A more recent authentication is required.",
};

/** Options of a {@link DomainError}. */
export interface DomainErrorOptions {
  /** A human-readable explanation; sent as `error_description`. */
  readonly description?: string;
  /** The request attribute at fault, in the REST spelling (`phone_number`). */
  readonly field?: string;
  /** Seconds until a rate-limited request may be retried. */
  readonly retryAfterSeconds?: number;
  /** `precondition_failed`: the profile's current version, when it exists. */
  readonly currentVersion?: number;
  /** `insufficient_user_authentication`: how old the authentication may be. */
  readonly maxAgeSeconds?: number;
  /** The HTTP status, where a code is answered with another than its usual one (`invalid_request` as 409, 422). */
  readonly status?: number;
  readonly cause?: unknown;
}

/** The one error type of the domain: a stable wire code, its HTTP status and optional details. */
export class DomainError extends Error {
  override name = "DomainError";
  readonly status: number;
  readonly description: string | undefined;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly currentVersion: number | undefined;
  readonly maxAgeSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    options: DomainErrorOptions = {},
  ) {
    const description = options.description ?? fixedDescriptions[code];
    super(description ?? code, { cause: options.cause });
    this.status = options.status ?? statusOf[code];
    this.description = description;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.currentVersion = options.currentVersion;
    this.maxAgeSeconds = options.maxAgeSeconds;
  }
}

/** Shorthand for `new DomainError("invalid_request", { description })`. */
export const invalidRequest = (description: string, field?: string): DomainError =>
  new DomainError("invalid_request", { description, ...(field === undefined ? {} : { field }) });

/** How long a client is told to wait (`Retry-After`) when a dependency is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** The database (or another dependency) could not be reached; answered as 503. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
}
