import { z } from "zod";
import { createDocument, type ZodOpenApiResponseObject } from "zod-openapi";
import { PROBLEM_JSON } from "./responses.js";
import {
  claimsBody,
  headers,
  otpTokenBody,
  problemBody,
  revertBody,
  revertedBody,
  sendOtpBody,
  tencentErrorBody,
  updateUserInfoBody,
} from "./schemas.js";

// The OpenAPI 3.1 description of the REST face (`GET /openapi.json`), generated from the schemas the decoder uses
// (`schemas.ts`). Statuses, codes and headers are listed per operation, as SPEC 1 and 5 fix them.

type Codes = readonly [string, ...string[]];
type Headers = Record<string, z.ZodType>;

/** An error answer: a Tencent CIAM body, or problem details when the request accepts them. */
function errorAnswer(status: number, description: string, codes: Codes, headerSchemas: Headers = {}) {
  return {
    description,
    ...(Object.keys(headerSchemas).length > 0 && { headers: z.object(headerSchemas) }),
    content: {
      "application/json": { schema: tencentErrorBody(codes) },
      [PROBLEM_JSON]: { schema: problemBody(codes, status) },
    },
  } satisfies ZodOpenApiResponseObject;
}

const bearerChallenge = { "WWW-Authenticate": headers.wwwAuthenticate };
const replayed = { "Idempotent-Replayed": headers.idempotentReplayed.optional() };

const bearerFailures = {
  "401": errorAnswer(
    401,
    "The access token is not a valid JWT, has a bad signature or an unknown key, is expired or not yet valid, or has " +
      "the wrong issuer or audience (`invalid_token`, with its `WWW-Authenticate` challenge).",
    ["invalid_token"],
    bearerChallenge,
  ),
  "403": errorAnswer(403, "The access token lacks the `openid` scope.", ["insufficient_scope"], bearerChallenge),
};

const unexpected = {
  "500": errorAnswer(500, "An unexpected error (logged; details are never sent).", ["server_error"]),
  "503": errorAnswer(
    503,
    "The database is unreachable or overloaded (`Retry-After: 1`).",
    ["temporarily_unavailable"],
    { "Retry-After": headers.retryAfter },
  ),
};

const tooLarge = errorAnswer(413, "The request body is larger than 64 KiB.", ["invalid_request"]);

const idempotencyFailures = {
  "409": errorAnswer(409, "A request with the same `Idempotency-Key` is still being processed (on any process).", [
    "invalid_request",
  ]),
  "422": errorAnswer(422, "The `Idempotency-Key` was used with a different request body.", ["invalid_request"]),
};

/** An optional request header, its description shown on the parameter. */
const optionalHeader = (schema: z.ZodString) =>
  schema.optional().meta({ param: { description: schema.description ?? "" } });

const idempotencyKeyParam = { "Idempotency-Key": optionalHeader(headers.idempotencyKey) };

const UPDATE_CODES = [
  "invalid_request",
  "malformed_phone_number",
  "malformed_email",
  "illegal_parameter_value",
  "bad_phone_number_otp_token",
  "bad_email_otp_token",
  "bad_phone_number_otp",
  "bad_email_otp",
  "duplicate_phone_number",
  "duplicate_email",
] as const;

const SEND_CODES = [
  "invalid_request",
  "malformed_phone_number",
  "malformed_email",
  "sms_rate_limit_exceeded",
  "email_rate_limit_exceeded",
] as const;

const userNotFound = errorAnswer(404, "The user does not exist and just-in-time provisioning is off.", [
  "user_not_found",
]);

const claimsAnswer = (description: string) =>
  ({
    description,
    headers: z.object({ ETag: headers.etag, ...replayed }),
    content: { "application/json": { schema: claimsBody } },
  }) satisfies ZodOpenApiResponseObject;

/** The answer to a method a path does not accept. */
export const methodNotAllowed = errorAnswer(
  405,
  "The path does not accept this method; `Allow` lists the ones it does.",
  ["invalid_request"],
  { Allow: headers.allow },
);

const html = { "text/html": { schema: z.string().meta({ description: "A plain HTML page (no script)." }) } };

/** An answer of the revert page: an HTML page only, never cached, never telling the next site where it came from. */
const pageAnswer = (description: string, headerSchemas: Headers = {}) =>
  ({
    description,
    headers: z.object({
      "Cache-Control": z.literal("no-store"),
      "Referrer-Policy": z.literal("no-referrer"),
      "Content-Security-Policy": z.string().meta({ description: "No script; only the page's own inline style." }),
      ...headerSchemas,
    }),
    content: html,
  }) satisfies ZodOpenApiResponseObject;

/** An error answer of `POST /userinfo/revert`: JSON (Tencent or problem details), or a page for the page's form. */
const revertFailure = (status: number, description: string, codes: Codes, headerSchemas: Headers = {}) => {
  const answer = errorAnswer(status, description, codes, headerSchemas);
  return { ...answer, content: { ...answer.content, ...html } } satisfies ZodOpenApiResponseObject;
};

const REVERT_CODES = ["invalid_request", "invalid_revert_token", "duplicate_email", "duplicate_phone_number"] as const;

const health = (status: string) =>
  z.object({ status: z.literal(status) }).meta({ description: `\`{"status":"${status}"}\`` });

/** Builds the OpenAPI 3.1 document of the REST face. */
function buildDocument() {
  return createDocument({
    openapi: "3.1.1",
    info: {
      title: "userinfo-bff REST API",
      version: "1",
      description:
        "Tencent CIAM's user-info API: read and update the signed-in user's profile, and send the one-time codes " +
        "that changing an email or phone number needs.\n\n" +
        'Errors are `{"error": CODE, "error_description": ...}` with `Content-Type: application/json;charset=UTF-8`. ' +
        "A request with `Accept: application/problem+json` gets them as RFC 9457 problem details instead " +
        "(`type` `urn:userinfo-bff:error:<code>`, `title`, `status`, `detail`, plus `error` and `error_description`).\n\n" +
        "A method a path does not accept answers `405` (`components.responses.MethodNotAllowed`). The same use cases " +
        "are served as GraphQL at `/graphql` and as tRPC at `/trpc`.",
    },
    tags: [
      { name: "userinfo", description: "The signed-in user's profile (SPEC 1.1, 1.2, 5.1-5.3)." },
      { name: "otp", description: "One-time codes for changing an email or phone number (SPEC 1.3)." },
      {
        name: "revert",
        description: "The undo link of an identifier change notice (SPEC 5.4).",
      },
      { name: "operations", description: "Health, readiness, metrics and descriptions." },
    ],
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "An access token with the `openid` scope (RFC 6750). Missing: `400 invalid_request`; invalid: `401 " +
            "invalid_token`; without `openid`: `403 insufficient_scope` - each with its `WWW-Authenticate` challenge.",
        },
        clientCredentials: {
          type: "http",
          scheme: "basic",
          description:
            "A registered application: `Basic base64(urlencode(client_id):urlencode(client_secret))`. Wrong: `401 " +
            "invalid_client` with `WWW-Authenticate: Basic`; too many failures: `429 too_many_requests`.",
        },
      },
      responses: { MethodNotAllowed: methodNotAllowed },
    },
    paths: {
      "/userinfo": {
        get: {
          tags: ["userinfo"],
          operationId: "getUserInfo",
          summary: "Read the signed-in user's claims",
          security: [{ bearer: [] }],
          requestParams: { header: z.object({ "If-None-Match": optionalHeader(headers.ifNoneMatch) }) },
          responses: {
            "200": claimsAnswer("The claims, with the profile's version as `ETag`."),
            "304": {
              description: "`If-None-Match` matches the current `ETag`: no body.",
              headers: z.object({ ETag: headers.etag }),
            },
            "400": errorAnswer(400, "No bearer token in the request.", ["invalid_request"], {
              "WWW-Authenticate": headers.wwwAuthenticate.optional(),
            }),
            ...bearerFailures,
            "404": userNotFound,
            ...unexpected,
          },
        },
        patch: {
          tags: ["userinfo"],
          operationId: "updateUserInfo",
          summary: "Update the signed-in user's profile",
          description:
            "Failures are checked in this order, the first wins and nothing changes: authentication; the body (JSON " +
            "object, content type); unknown keys (`Unknown attribute(s) found.`); read-only attributes (`Unsupported " +
            "user attribute(s) found.`); missing OTP companions; `malformed_phone_number`, `malformed_email`, " +
            "`illegal_parameter_value`; step-up (`STEP_UP_MAX_AGE_SECONDS`); `If-Match`; the OTP tokens then codes; " +
            "duplicates; a missing user. Changing `email` or `phone_number` needs the token of `POST /otp/send` " +
            "(usage `update_userinfo`) and the code delivered.",
          security: [{ bearer: [] }],
          requestParams: {
            header: z.object({ "If-Match": optionalHeader(headers.ifMatch), ...idempotencyKeyParam }),
          },
          requestBody: { required: true, content: { "application/json": { schema: updateUserInfoBody } } },
          responses: {
            "200": claimsAnswer("The claims after the update, with the new version as `ETag`."),
            "400": errorAnswer(
              400,
              "No bearer token (with `WWW-Authenticate`), an invalid body or `Idempotency-Key`, or a rule the update " +
                "breaks: `error` says which.",
              UPDATE_CODES,
              { "WWW-Authenticate": headers.wwwAuthenticate.optional(), ...replayed },
            ),
            "401": errorAnswer(
              401,
              "`invalid_token`, or `insufficient_user_authentication` (step-up, RFC 9470): the token's `auth_time` is " +
                "missing or older than `STEP_UP_MAX_AGE_SECONDS` for a change of `email` or `phone_number` " +
                '(`WWW-Authenticate: Bearer error="insufficient_user_authentication", ..., max_age=<N>`).',
              ["invalid_token", "insufficient_user_authentication"],
              bearerChallenge,
            ),
            "403": bearerFailures["403"],
            "404": userNotFound,
            ...idempotencyFailures,
            "412": errorAnswer(
              412,
              "`If-Match` does not match the current version: nothing changed, no code was checked. `ETag` is the " +
                "current version, when the profile exists (`If-Match: *` needs one).",
              ["precondition_failed"],
              { ETag: headers.etag.optional() },
            ),
            "413": tooLarge,
            ...unexpected,
          },
        },
      },
      "/otp/send": {
        post: {
          tags: ["otp"],
          operationId: "sendOtp",
          summary: "Send a one-time code to a phone number or email",
          description:
            "A 6-digit code goes to the target (valid 60 s; the token 5 minutes, single use, 5 wrong codes burn it). " +
            "With Basic client credentials (Tencent's form) any usage; with a user's access token only " +
            "`update_userinfo`, bound to that user. A new send for the same target and usage by the same requester " +
            "supersedes that requester's previous token. Limits: 1 send per target per 30 s, 50 per day.",
          security: [{ clientCredentials: [] }, { bearer: [] }],
          requestParams: { header: z.object(idempotencyKeyParam) },
          requestBody: { required: true, content: { "application/json": { schema: sendOtpBody } } },
          responses: {
            "200": {
              description: "The code is on its way.",
              headers: z.object({ "Cache-Control": headers.cacheControl, ...replayed }),
              content: { "application/json": { schema: otpTokenBody } },
            },
            "400": errorAnswer(
              400,
              "An invalid body or `Idempotency-Key`, a malformed target, or a per-target rate limit (with " +
                "`Retry-After`).",
              SEND_CODES,
              { "Retry-After": headers.retryAfter.optional(), ...replayed },
            ),
            "401": errorAnswer(
              401,
              "`invalid_client` (no or wrong credentials, `WWW-Authenticate: Basic`) or `invalid_token` (a bad access " +
                "token, with its Bearer challenge).",
              ["invalid_client", "invalid_token"],
              bearerChallenge,
            ),
            "403": bearerFailures["403"],
            ...idempotencyFailures,
            "413": tooLarge,
            "429": errorAnswer(
              429,
              "Too many failed client authentications for this client id or address.",
              ["too_many_requests"],
              { "Retry-After": headers.retryAfter },
            ),
            "500": unexpected["500"],
            "503": errorAnswer(
              503,
              "Delivery failed (`Failed to send OTP. Please try again later.`: no token issued) or the database is " +
                "unavailable (`Retry-After: 1`).",
              ["temporarily_unavailable"],
              { "Retry-After": headers.retryAfter.optional() },
            ),
          },
        },
      },
      "/userinfo/revert": {
        get: {
          tags: ["revert"],
          operationId: "revertPage",
          summary: "Show what a revert link would undo (changes nothing)",
          description:
            "The link of an identifier change notice, sent to the previous email or phone number. The page shows the " +
            "masked change and a button that posts the page's form. `Cache-Control: no-store`, `Referrer-Policy: " +
            "no-referrer`; the query string is never logged.",
          requestParams: {
            query: z.object({
              token: z
                .string()
                .optional()
                .meta({ param: { description: "The revert token of the notice." } }),
            }),
          },
          responses: {
            "200": pageAnswer("The masked change and the form that undoes it."),
            "400": pageAnswer("The token is unknown, used or expired; nothing changed."),
            "500": pageAnswer("An unexpected error; nothing changed."),
            "503": pageAnswer("The database is unavailable; nothing changed.", { "Retry-After": headers.retryAfter }),
          },
        },
        post: {
          tags: ["revert"],
          operationId: "revert",
          summary: "Restore the previous email or phone number, verified (once)",
          description:
            "Restores the value the change replaced, whatever the current value is, and marks it verified; audited, " +
            "and it emits a `user.updated` event. The token works once, until `REVERT_TTL_SECONDS` after the change. " +
            "The page's form gets HTML answers; a JSON body gets JSON.",
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: revertBody },
              "application/x-www-form-urlencoded": { schema: revertBody },
            },
          },
          responses: {
            "200": {
              description: "Restored: the JSON answer, or a confirmation page for the form.",
              headers: z.object({ "Cache-Control": headers.cacheControl }),
              content: { "application/json": { schema: revertedBody }, ...html },
            },
            "400": revertFailure(
              400,
              "Not a JSON object with a string `revert_token` (or neither JSON nor the form); the token is unknown, used or expired " +
                "(`invalid_revert_token`); or another user holds the value now (`duplicate_email`, " +
                "`duplicate_phone_number`: the link keeps working until it expires). Nothing changed.",
              REVERT_CODES,
            ),
            "413": tooLarge,
            "500": revertFailure(500, "An unexpected error (logged; details are never sent).", ["server_error"]),
            "503": revertFailure(
              503,
              "The database is unreachable or overloaded (`Retry-After: 1`).",
              ["temporarily_unavailable"],
              { "Retry-After": headers.retryAfter },
            ),
          },
        },
      },
      "/healthz": {
        get: {
          tags: ["operations"],
          operationId: "liveness",
          summary: "Liveness",
          responses: {
            "200": { description: "The process runs.", content: { "application/json": { schema: health("ok") } } },
          },
        },
      },
      "/readyz": {
        get: {
          tags: ["operations"],
          operationId: "readiness",
          summary: "Readiness",
          responses: {
            "200": { description: "Ready for traffic.", content: { "application/json": { schema: health("ready") } } },
            "503": {
              description: "Not ready: the reason says why (issuer keys, database, migrations, shutting down).",
              content: {
                "application/json": {
                  schema: z.object({ status: z.literal("not_ready"), reason: z.string() }),
                },
              },
            },
          },
        },
      },
      "/metrics": {
        get: {
          tags: ["operations"],
          operationId: "metrics",
          summary: "Prometheus metrics",
          responses: {
            "200": { description: "Prometheus text format.", content: { "text/plain": { schema: z.string() } } },
          },
        },
      },
      "/.well-known/jwks.json": {
        get: {
          tags: ["operations"],
          operationId: "developmentJwks",
          summary: "The development issuer's public keys (only while it is the issuer)",
          responses: {
            "200": {
              description: "A JSON Web Key Set.",
              content: {
                "application/json": { schema: z.object({ keys: z.array(z.looseObject({ kty: z.string() })) }) },
              },
            },
          },
        },
      },
      "/openapi.json": {
        get: {
          tags: ["operations"],
          operationId: "openApiDocument",
          summary: "This document",
          responses: {
            "200": {
              description: "OpenAPI 3.1.",
              content: { "application/json": { schema: z.looseObject({ openapi: z.string() }) } },
            },
          },
        },
      },
      "/docs": {
        get: {
          tags: ["operations"],
          operationId: "apiReference",
          summary: "The API reference page rendered from this document (off in production unless `API_DOCS=true`)",
          responses: {
            "200": { description: "An HTML page.", content: { "text/html": { schema: z.string() } } },
            "404": { description: "The page is off: production without `API_DOCS=true`." },
          },
        },
      },
    },
  });
}

let document: ReturnType<typeof buildDocument> | undefined;

/** The OpenAPI 3.1 document of the REST face, built on first use. */
export function openApiDocument(): ReturnType<typeof buildDocument> {
  document ??= buildDocument();
  return document;
}
