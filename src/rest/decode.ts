import { isReadOnlyAttribute, type ProfileAttribute } from "../domain/attributes.js";
import { invalidRequest } from "../domain/errors.js";
import type { SendOtpCommand } from "../domain/otp/send-otp.js";
import {
  type IdentifierChange,
  type JsonValue,
  type UpdateCommand,
  WRONG_TYPE,
  type WrongType,
} from "../domain/update-command.js";
import { identifierFields, profileFields, sendOtpBody } from "./schemas.js";

// The Tencent CIAM JSON bodies, decoded into the domain's commands by the schemas of `schemas.ts` (the ones the
// OpenAPI description shows). Decoding sorts keys and JSON types; every rule about values (and the order in which
// failures are reported) is the domain's.

/** A JSON object's own keys and values. @throws DomainError `invalid_request` for any other JSON value */
function objectOf(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  return body as Record<string, unknown>;
}

/** The value as its field's schema takes it; a value of another JSON type is of the wrong type. */
function typed<T>(
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } },
  value: unknown,
) {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : WRONG_TYPE;
}

const IDENTIFIER_KEYS = {
  phone_number: { value: "phone_number", otpToken: "phone_number_otp_token", otp: "phone_number_otp" },
  email: { value: "email", otpToken: "email_otp_token", otp: "email_otp" },
} as const satisfies Record<string, Record<keyof IdentifierChange, keyof typeof identifierFields>>;

function identifierChange(
  input: Record<string, unknown>,
  keys: (typeof IDENTIFIER_KEYS)[keyof typeof IDENTIFIER_KEYS],
) {
  const change: { -readonly [K in keyof IdentifierChange]: IdentifierChange[K] } = {};
  for (const part of ["value", "otpToken", "otp"] as const) {
    if (Object.hasOwn(input, keys[part])) change[part] = typed(identifierFields[keys[part]], input[keys[part]]);
  }
  return Object.keys(change).length === 0 ? undefined : change;
}

/**
 * The body of `PATCH /userinfo` as an {@link UpdateCommand}: built-in attributes and OTP companions by their
 * snake_case keys, read-only built-ins listed as such, every other key a custom attribute (unknown unless the
 * operator defined it).
 * @throws DomainError `invalid_request` when the body is not a JSON object
 */
export function decodeUpdateCommand(body: unknown): UpdateCommand {
  const input = objectOf(body);
  const profile: Partial<Record<ProfileAttribute, string | null | WrongType>> = {};
  const custom = new Map<string, JsonValue>();
  const readOnly: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (Object.hasOwn(profileFields, key)) {
      profile[key as ProfileAttribute] = typed(profileFields[key as ProfileAttribute], value);
    } else if (Object.hasOwn(identifierFields, key)) continue;
    else if (isReadOnlyAttribute(key)) readOnly.push(key);
    else custom.set(key, value as JsonValue);
  }
  const phoneNumber = identifierChange(input, IDENTIFIER_KEYS.phone_number);
  const email = identifierChange(input, IDENTIFIER_KEYS.email);
  return { profile, custom, readOnly, ...(phoneNumber && { phoneNumber }), ...(email && { email }) };
}

/**
 * The body of `POST /otp/send` as a {@link SendOtpCommand}: `usage`, and `phone_number` or `email`.
 * @throws DomainError `invalid_request` when the body is not a JSON object
 */
export function decodeSendOtpCommand(body: unknown): SendOtpCommand {
  const input = objectOf(body);
  const fields = sendOtpBody.shape;
  const given = (key: keyof typeof fields) => Object.hasOwn(input, key);
  return {
    ...(given("usage") && { usage: typed(fields.usage, input.usage) }),
    ...(given("phone_number") && { phoneNumber: typed(fields.phone_number, input.phone_number) }),
    ...(given("email") && { email: typed(fields.email, input.email) }),
  };
}
