import { isReadOnlyAttribute, PROFILE_ATTRIBUTES, type ProfileAttribute } from "../domain/attributes.js";
import { invalidRequest } from "../domain/errors.js";
import type { SendOtpCommand } from "../domain/otp/send-otp.js";
import {
  type IdentifierChange,
  type JsonValue,
  type UpdateCommand,
  WRONG_TYPE,
  type WrongType,
} from "../domain/update-command.js";

// The Tencent CIAM JSON bodies, decoded into the domain's commands. Decoding sorts keys and JSON types; every rule
// about values (and the order in which failures are reported) is the domain's.

/** A JSON object's own keys and values. @throws DomainError `invalid_request` for any other JSON value */
function objectOf(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  return body as Record<string, unknown>;
}

/** A string or null as given; any other JSON value is of the wrong type. */
const text = (value: unknown): string | null | WrongType =>
  typeof value === "string" || value === null ? value : WRONG_TYPE;

const IDENTIFIER_KEYS = {
  phone_number: { value: "phone_number", otpToken: "phone_number_otp_token", otp: "phone_number_otp" },
  email: { value: "email", otpToken: "email_otp_token", otp: "email_otp" },
} as const;
const IDENTIFIER_KEY_NAMES: ReadonlySet<string> = new Set(
  Object.values(IDENTIFIER_KEYS).flatMap((keys) => Object.values(keys)),
);
const PROFILE_KEY_NAMES: ReadonlySet<string> = new Set(PROFILE_ATTRIBUTES);

function identifierChange(
  input: Record<string, unknown>,
  keys: (typeof IDENTIFIER_KEYS)[keyof typeof IDENTIFIER_KEYS],
) {
  const change: { -readonly [K in keyof IdentifierChange]: IdentifierChange[K] } = {};
  for (const part of ["value", "otpToken", "otp"] as const) {
    if (Object.hasOwn(input, keys[part])) change[part] = text(input[keys[part]]);
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
    if (PROFILE_KEY_NAMES.has(key)) profile[key as ProfileAttribute] = text(value);
    else if (IDENTIFIER_KEY_NAMES.has(key)) continue;
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
  const usage = input.usage;
  return {
    ...(Object.hasOwn(input, "usage") && { usage: typeof usage === "string" ? usage : WRONG_TYPE }),
    ...(Object.hasOwn(input, "phone_number") && { phoneNumber: text(input.phone_number) }),
    ...(Object.hasOwn(input, "email") && { email: text(input.email) }),
  };
}
