import { z } from "zod";
import { DomainError, invalidRequest } from "./errors.js";

/** The OIDC standard claims (OpenID Connect Core 5.1) plus the built-ins Tencent CIAM knows. */
export const STANDARD_CLAIMS = [
  "sub",
  "name",
  "given_name",
  "family_name",
  "middle_name",
  "nickname",
  "preferred_username",
  "profile",
  "picture",
  "website",
  "email",
  "email_verified",
  "gender",
  "birthdate",
  "zoneinfo",
  "locale",
  "phone_number",
  "phone_number_verified",
  "address",
  "updated_at",
] as const;

/** Attribute names that exist but are never writable through the API. */
const READ_ONLY_BUILTINS: ReadonlySet<string> = new Set([
  ...STANDARD_CLAIMS,
  "username",
  "created_at",
  "authenticationMethod",
]);

/** The profile attributes a user may change directly. */
export const PROFILE_ATTRIBUTES = ["name", "nickname", "zoneinfo", "locale"] as const;
export type ProfileAttribute = (typeof PROFILE_ATTRIBUTES)[number];

/** The two verified attributes, each with the keys that must accompany it. */
export const VERIFIED_ATTRIBUTES = {
  phone_number: { channel: "sms", token: "phone_number_otp_token", code: "phone_number_otp" },
  email: { channel: "email", token: "email_otp_token", code: "email_otp" },
} as const;
export type VerifiedAttribute = keyof typeof VERIFIED_ATTRIBUTES;
export type Channel = (typeof VERIFIED_ATTRIBUTES)[VerifiedAttribute]["channel"];

const WRITABLE_BUILTINS: ReadonlySet<string> = new Set([...PROFILE_ATTRIBUTES, "phone_number", "email"]);
const COMPANION_KEYS: ReadonlySet<string> = new Set(
  Object.values(VERIFIED_ATTRIBUTES).flatMap((v) => [v.token, v.code]),
);

/** An operator-defined attribute. */
export interface CustomAttributeDefinition {
  readonly name: string;
  readonly type: "string" | "number" | "boolean";
  /** Matched against the whole value of a string attribute. */
  readonly pattern: string | null;
  readonly writable: boolean;
}

/** A custom attribute's value. */
export type CustomValue = string | number | boolean;

/** A verified attribute change with the OTP that proves control of the new value. */
export interface VerifiedChange {
  /** As the user gave it (email) or normalized (the bare 11-digit phone number). */
  readonly value: string;
  /** The form OTP challenges are bound to: the phone number, or the email in lower case. */
  readonly target: string;
  readonly otpToken: string;
  readonly otp: string;
}

/** A validated `PATCH /userinfo` body. `null` removes an attribute. */
export interface UpdateRequest {
  readonly profile: Partial<Record<ProfileAttribute, string | null>>;
  readonly customSet: Readonly<Record<string, CustomValue>>;
  readonly customUnset: readonly string[];
  readonly phoneNumber: VerifiedChange | undefined;
  readonly email: VerifiedChange | undefined;
}

/** The description of the `invalid_request` for keys that are no attribute at all. */
export const UNKNOWN_ATTRIBUTES = "Unknown attribute(s) found.";

/** True for attribute names the operator may not use for custom attributes. */
export function isReservedAttributeName(name: string): boolean {
  return READ_ONLY_BUILTINS.has(name) || WRITABLE_BUILTINS.has(name) || COMPANION_KEYS.has(name);
}

/**
 * The bare 11-digit mainland China mobile number, or `undefined` when `input` is not one.
 * `+86` / `0086`, spaces and dashes are accepted and removed.
 */
export function normalizePhoneNumber(input: string): string | undefined {
  if (input.length > 32) return undefined;
  let digits = input.replace(/[\s-]/g, "");
  if (digits.startsWith("+86")) digits = digits.slice(3);
  else if (digits.startsWith("0086")) digits = digits.slice(4);
  return /^1[3-9][0-9]{9}$/.test(digits) ? digits : undefined;
}

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const DOT_ATOM = `${ATEXT}+(?:\\.${ATEXT}+)*`;
const QUOTED_STRING = '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*"';
const DOMAIN_LITERAL = "\\[(?:[\\x21-\\x5a\\x5e-\\x7e]|\\\\[\\x20-\\x7e])*\\]";
const ADDR_SPEC = new RegExp(`^(?:${DOT_ATOM}|${QUOTED_STRING})@(?:${DOT_ATOM}|${DOMAIN_LITERAL})$`);

/** True when `input` is an RFC 5322 addr-spec of at most 254 characters. */
export function isEmailAddress(input: string): boolean {
  return input.length <= 254 && ADDR_SPEC.test(input);
}

/** The form an email is compared and made unique in. */
export const emailKey = (email: string): string => email.toLowerCase();

const REJECTED_ZONES = /^(?:posixrules|localtime|factory|posix\/.*|right\/.*)$/i;
const ZONE_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+){0,2}$/;

/**
 * The IANA time zone `input` names, if `Intl` knows it, spelled in its usual case (`asia/shanghai` ->
 * `Asia/Shanghai`). A zone is kept as named: ICU would turn `America/Argentina/Buenos_Aires` into its legacy alias.
 */
export function canonicalTimeZone(input: string): string | undefined {
  if (input.length > 64 || REJECTED_ZONES.test(input) || !ZONE_SHAPE.test(input)) return undefined;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: input }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  if (resolved.toLowerCase() === input.toLowerCase()) return resolved;
  if (input !== input.toLowerCase()) return input;
  return input.replace(/(^|[/_-])([a-z])/g, (_m, separator: string, letter: string) => separator + letter.toUpperCase());
}

/** The canonical BCP 47 form of a locale (`en_US` -> `en-US`), or `undefined` when it is not one. */
export function canonicalLocale(input: string): string | undefined {
  if (input.length === 0 || input.length > 64) return undefined;
  try {
    return Intl.getCanonicalLocales(input.replace(/_/g, "-"))[0];
  } catch {
    return undefined;
  }
}

// Letters a display string may not contain: C0/C1 controls and the line/paragraph separators.
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

const displayString = z
  .string()
  .transform((s) => s.trim())
  .refine((s) => {
    const length = [...s].length;
    return length >= 1 && length <= 64 && !CONTROL.test(s);
  });

const MAX_CUSTOM_STRING = 1024;

const profileRules: Record<ProfileAttribute, z.ZodType<string | undefined, unknown>> = {
  name: displayString,
  nickname: displayString,
  zoneinfo: z.string().transform(canonicalTimeZone),
  locale: z.string().transform(canonicalLocale),
};

function customRule(definition: CustomAttributeDefinition): z.ZodType<CustomValue, unknown> {
  switch (definition.type) {
    case "number":
      return z.number().finite();
    case "boolean":
      return z.boolean();
    case "string": {
      const pattern = definition.pattern === null ? undefined : new RegExp(`^(?:${definition.pattern})$`, "u");
      return z
        .string()
        .refine((s) => s.length >= 1 && s.length <= MAX_CUSTOM_STRING && !CONTROL.test(s))
        .refine((s) => pattern === undefined || pattern.test(s));
    }
  }
}

/** True when `pattern` compiles as a custom attribute pattern. */
export function isValidPattern(pattern: string): boolean {
  try {
    new RegExp(`^(?:${pattern})$`, "u");
    return true;
  } catch {
    return false;
  }
}

const illegal = (field: string): DomainError => new DomainError("illegal_parameter_value", { field });

/**
 * Validates a `PATCH /userinfo` body against the attribute rules, failing in the order the wire contract fixes:
 * not an object, unknown keys, unsupported keys, missing companions, malformed phone number, malformed email,
 * illegal values.
 * @throws DomainError with the first failure.
 */
export function parseUpdateRequest(
  body: unknown,
  customAttributes: readonly CustomAttributeDefinition[],
): UpdateRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  const input = body as Record<string, unknown>;
  const keys = Object.keys(input);
  const custom = new Map(customAttributes.map((d) => [d.name, d]));

  const isKnown = (k: string) =>
    READ_ONLY_BUILTINS.has(k) || WRITABLE_BUILTINS.has(k) || COMPANION_KEYS.has(k) || custom.has(k);
  if (!keys.every(isKnown)) throw invalidRequest(UNKNOWN_ATTRIBUTES);

  const isWritable = (k: string) =>
    WRITABLE_BUILTINS.has(k) || COMPANION_KEYS.has(k) || custom.get(k)?.writable === true;
  if (!keys.every(isWritable)) throw invalidRequest("Unsupported user attribute(s) found.");

  for (const [attribute, keysOf] of Object.entries(VERIFIED_ATTRIBUTES)) {
    const companions = [keysOf.token, keysOf.code];
    if (Object.hasOwn(input, attribute)) {
      const missing = companions.filter((k) => !Object.hasOwn(input, k));
      if (missing.length > 0) {
        throw invalidRequest(`${attribute} requires ${missing.join(" and ")}.`, attribute);
      }
    } else {
      const orphans = companions.filter((k) => Object.hasOwn(input, k));
      if (orphans.length > 0) throw invalidRequest(`${orphans.join(" and ")} given without ${attribute}.`, orphans[0]);
    }
  }

  // Malformed addresses are reported before any other illegal value, phone number first.
  const phoneValue = verifiedValue(input, "phone_number", (v) => {
    const normalized = normalizePhoneNumber(v);
    return normalized === undefined ? undefined : { value: normalized, target: normalized };
  });
  const emailValue = verifiedValue(input, "email", (v) =>
    isEmailAddress(v) ? { value: v, target: emailKey(v) } : undefined,
  );
  const phoneNumber = phoneValue && withOtp(input, "phone_number", phoneValue);
  const email = emailValue && withOtp(input, "email", emailValue);

  const profile: Partial<Record<ProfileAttribute, string | null>> = {};
  for (const attribute of PROFILE_ATTRIBUTES) {
    if (!Object.hasOwn(input, attribute)) continue;
    const raw = input[attribute];
    if (raw === null) {
      profile[attribute] = null;
      continue;
    }
    const parsed = profileRules[attribute].safeParse(raw);
    if (!parsed.success || parsed.data === undefined) throw illegal(attribute);
    profile[attribute] = parsed.data;
  }

  const customSet: Record<string, CustomValue> = {};
  const customUnset: string[] = [];
  for (const key of keys) {
    const definition = custom.get(key);
    if (definition === undefined) continue;
    const raw = input[key];
    if (raw === null) {
      customUnset.push(key);
      continue;
    }
    const parsed = customRule(definition).safeParse(raw);
    if (!parsed.success) throw illegal(key);
    customSet[key] = parsed.data;
  }

  return { profile, customSet, customUnset, phoneNumber, email };
}

function verifiedValue(
  input: Record<string, unknown>,
  attribute: VerifiedAttribute,
  normalize: (value: string) => { value: string; target: string } | undefined,
): { value: string; target: string } | undefined {
  if (!Object.hasOwn(input, attribute)) return undefined;
  const raw = input[attribute];
  // null would remove the attribute, which is not allowed: it is as malformed as any other non-address.
  const normalized = typeof raw === "string" ? normalize(raw) : undefined;
  if (normalized === undefined) {
    throw new DomainError(attribute === "email" ? "malformed_email" : "malformed_phone_number", { field: attribute });
  }
  return normalized;
}

function withOtp(
  input: Record<string, unknown>,
  attribute: VerifiedAttribute,
  value: { value: string; target: string },
): VerifiedChange {
  const { token, code } = VERIFIED_ATTRIBUTES[attribute];
  const otpToken = input[token];
  const otp = input[code];
  if (typeof otpToken !== "string") throw illegal(token);
  if (typeof otp !== "string") throw illegal(code);
  return { ...value, otpToken, otp };
}
