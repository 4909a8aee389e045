import { DomainError, type ErrorCode } from "../../domain/errors.js";
import { builder } from "../builder.js";

/** Human messages for codes whose REST answer has no description. */
const MESSAGES: Partial<Record<ErrorCode, string>> = {
  malformed_phone_number: "The phone number is not a mainland China mobile number.",
  malformed_email: "The email address is not valid.",
  illegal_parameter_value: "A value is not allowed.",
  bad_phone_number_otp_token: "The phone number OTP token is unknown, expired, used, or issued for something else.",
  bad_email_otp_token: "The email OTP token is unknown, expired, used, or issued for something else.",
  bad_phone_number_otp: "The phone number OTP code is wrong or expired.",
  bad_email_otp: "The email OTP code is wrong or expired.",
  duplicate_phone_number: "Another user has this phone number.",
  duplicate_email: "Another user has this email address.",
  user_not_found: "The user does not exist.",
};

/** A domain failure as GraphQL shows it: the REST code, a message, and the input field at fault. */
export class UserInfoFailure extends Error {
  readonly code: ErrorCode;
  readonly field: string | null;
  readonly retryAfterSeconds: number | null;
  readonly currentVersion: number | null;
  readonly maxAgeSeconds: number | null;

  constructor(error: DomainError) {
    super(error.description ?? MESSAGES[error.code] ?? error.code);
    this.code = error.code;
    this.field = error.field === undefined ? null : camelCase(error.field);
    this.retryAfterSeconds = error.retryAfterSeconds ?? null;
    this.currentVersion = error.currentVersion ?? null;
    this.maxAgeSeconds = error.maxAgeSeconds ?? null;
  }
}

const camelCase = (snake: string) => snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

export class InvalidRequestError extends UserInfoFailure {}
export class MalformedAddressError extends UserInfoFailure {}
export class IllegalParameterValueError extends UserInfoFailure {}
export class BadOtpTokenError extends UserInfoFailure {}
export class BadOtpError extends UserInfoFailure {}
export class DuplicateAddressError extends UserInfoFailure {}
export class UserNotFoundError extends UserInfoFailure {}
export class RateLimitExceededError extends UserInfoFailure {}
export class DeliveryFailedError extends UserInfoFailure {}
export class PreconditionFailedError extends UserInfoFailure {}
export class StepUpRequiredError extends UserInfoFailure {}

const KINDS: Record<ErrorCode, new (error: DomainError) => UserInfoFailure> = {
  invalid_request: InvalidRequestError,
  invalid_client: InvalidRequestError,
  malformed_phone_number: MalformedAddressError,
  malformed_email: MalformedAddressError,
  illegal_parameter_value: IllegalParameterValueError,
  bad_phone_number_otp_token: BadOtpTokenError,
  bad_email_otp_token: BadOtpTokenError,
  bad_phone_number_otp: BadOtpError,
  bad_email_otp: BadOtpError,
  duplicate_phone_number: DuplicateAddressError,
  duplicate_email: DuplicateAddressError,
  user_not_found: UserNotFoundError,
  sms_rate_limit_exceeded: RateLimitExceededError,
  email_rate_limit_exceeded: RateLimitExceededError,
  temporarily_unavailable: DeliveryFailedError,
  too_many_requests: RateLimitExceededError,
  precondition_failed: PreconditionFailedError,
  insufficient_user_authentication: StepUpRequiredError,
  // The revert link is a REST page only; GraphQL never sees this code.
  invalid_revert_token: InvalidRequestError,
};

/**
 * Runs a domain call, turning its {@link DomainError} into the typed GraphQL error of its kind, which the errors
 * plugin returns as a member of the field's result union. Anything else propagates (and stays masked).
 */
export async function asResult<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DomainError) throw new KINDS[error.code](error);
    throw error;
  }
}

const ErrorInterface = builder.interfaceRef<UserInfoFailure>("Error").implement({
  description: "A failure the caller can act on. `code` is the error string of the REST face.",
  fields: (t) => ({
    code: t.exposeString("code", { description: "The REST error code, e.g. `duplicate_email`." }),
    message: t.exposeString("message"),
    field: t.exposeString("field", { nullable: true, description: "The input field at fault, when there is one." }),
  }),
});

const describeKind = (kind: typeof UserInfoFailure, name: string, description: string) =>
  builder.objectType(kind, {
    name,
    description,
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof kind,
  });

describeKind(
  InvalidRequestError,
  "InvalidRequestError",
  "`invalid_request`: the input breaks a rule of the request's shape.",
);
describeKind(MalformedAddressError, "MalformedAddressError", "`malformed_phone_number` or `malformed_email`.");
describeKind(
  IllegalParameterValueError,
  "IllegalParameterValueError",
  "`illegal_parameter_value`: a value is not allowed.",
);
describeKind(BadOtpTokenError, "BadOtpTokenError", "`bad_phone_number_otp_token` or `bad_email_otp_token`.");
describeKind(BadOtpError, "BadOtpError", "`bad_phone_number_otp` or `bad_email_otp`: the code is wrong or expired.");
describeKind(DuplicateAddressError, "DuplicateAddressError", "`duplicate_phone_number` or `duplicate_email`.");
describeKind(
  UserNotFoundError,
  "UserNotFoundError",
  "`user_not_found`: no profile, and just-in-time provisioning is off.",
);
describeKind(
  DeliveryFailedError,
  "DeliveryFailedError",
  "`temporarily_unavailable`: the code could not be delivered; no token was issued.",
);
builder.objectType(RateLimitExceededError, {
  name: "RateLimitExceededError",
  description: "`sms_rate_limit_exceeded` or `email_rate_limit_exceeded`.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof RateLimitExceededError,
  fields: (t) => ({
    retryAfterSeconds: t.exposeInt("retryAfterSeconds", {
      nullable: true,
      description: "Seconds until a send may succeed.",
    }),
  }),
});
builder.objectType(PreconditionFailedError, {
  name: "PreconditionFailedError",
  description: "`precondition_failed`: `ifVersion` is not the profile's version; nothing was changed or counted.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof PreconditionFailedError,
  fields: (t) => ({
    currentVersion: t.exposeInt("currentVersion", {
      nullable: true,
      description: "The profile's version now; null when there is no profile.",
    }),
  }),
});
builder.objectType(StepUpRequiredError, {
  name: "StepUpRequiredError",
  description:
    "`insufficient_user_authentication`: changing the email or phone number needs a more recent sign-in (RFC 9470).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof StepUpRequiredError,
  fields: (t) => ({
    maxAgeSeconds: t.exposeInt("maxAgeSeconds", {
      nullable: true,
      description: "How long ago the user may have signed in at most; ask the issuer for max_age accordingly.",
    }),
  }),
});
