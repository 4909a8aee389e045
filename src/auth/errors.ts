const ERROR_URI = "https://tools.ietf.org/html/rfc6750#section-3.1";

/** The RFC 6750 error codes a bearer check can fail with. */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope";

const statusOf: Record<BearerErrorCode, number> = { invalid_request: 400, invalid_token: 401, insufficient_scope: 403 };

/** A failed bearer authentication: its HTTP status and the exact `WWW-Authenticate` challenge. */
export class AuthError extends Error {
  override name = "AuthError";
  readonly status: number;

  constructor(
    readonly code: BearerErrorCode,
    readonly description: string,
  ) {
    super(description);
    this.status = statusOf[code];
  }

  /** The `WWW-Authenticate` header value. */
  get challenge(): string {
    return `Bearer error="${this.code}", error_description="${this.description}", error_uri="${ERROR_URI}"`;
  }
}

/** The failures of SPEC 1.4 whose descriptions are fixed. */
export const bearerErrors = {
  missing: () => new AuthError("invalid_request", "Bearer token not found in the request"),
  undecodable: () => new AuthError("invalid_token", "Error decoding JWT"),
  insufficientScope: () =>
    new AuthError("insufficient_scope", "The request requires higher privileges than provided by the access token."),
};
