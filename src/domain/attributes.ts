import { z } from "zod";
import { DomainError } from "./errors.js";

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

/** True for built-in attribute names that exist but that no request may write (`sub`, `email_verified`, ...). */
export const isReadOnlyAttribute = (name: string): boolean => READ_ONLY_BUILTINS.has(name);

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
const DOT_ATOM = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`);
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * True when `input` is an address of the form SPEC 1.1 accepts: a dot-atom local part of at most 64 characters
 * (no quoted strings, comments or domain literals, which reach the same mailbox under another spelling), `@`, and
 * a domain of DNS labels (letters, digits, inner hyphens; 1..63 each), at most 254 characters in all.
 */
export function isEmailAddress(input: string): boolean {
  if (input.length > 254) return false;
  const at = input.lastIndexOf("@");
  if (at < 1) return false;
  const local = input.slice(0, at);
  const domain = input.slice(at + 1);
  return local.length <= 64 && DOT_ATOM.test(local) && domain.split(".").every((label) => DNS_LABEL.test(label));
}

/** The form an email is compared and made unique in. */
export const emailKey = (email: string): string => email.toLowerCase();

/** A new email or phone number: the value stored, and the target its OTP challenges are bound to. */
export interface Address {
  /** As the user gave it (email) or normalized (the bare 11-digit phone number). */
  readonly value: string;
  /** The phone number, or the email in lower case. */
  readonly target: string;
}

/**
 * The address a client gave for `attribute` (an update or a send), normalized by the rules above.
 * @throws DomainError `malformed_phone_number` / `malformed_email` for anything else - `null` and other JSON types
 *   included: an address cannot be removed
 */
export function addressOf(attribute: VerifiedAttribute, given: unknown): Address {
  if (typeof given === "string") {
    if (attribute === "phone_number") {
      const phone = normalizePhoneNumber(given);
      if (phone !== undefined) return { value: phone, target: phone };
    } else if (isEmailAddress(given)) return { value: given, target: emailKey(given) };
  }
  throw new DomainError(attribute === "email" ? "malformed_email" : "malformed_phone_number", { field: attribute });
}

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
  return input.replace(
    /(^|[/_-])([a-z])/g,
    (_m, separator: string, letter: string) => separator + letter.toUpperCase(),
  );
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
// A surrogate that is not half of a pair: not a character, and refused by PostgreSQL's jsonb and text.
const LONE_SURROGATE = /\p{Cs}/u;

/** True when `input` is well-formed UTF-16: no lone surrogate. */
export const isWellFormed = (input: string): boolean => !LONE_SURROGATE.test(input);

const displayString: z.ZodType<string, string> = z
  .string()
  .transform((s) => s.trim())
  .refine((s) => {
    const length = [...s].length;
    return length >= 1 && length <= 64 && !CONTROL.test(s) && isWellFormed(s);
  });

const MAX_CUSTOM_STRING = 1024;

const ruleOf =
  (schema: z.ZodType<string | undefined, string>) =>
  (value: string): string | undefined => {
    const parsed = schema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  };

/** The rules of the profile attributes: the stored form of a given string, or `undefined` when it is illegal. */
export const profileRules: Record<ProfileAttribute, (value: string) => string | undefined> = {
  name: ruleOf(displayString),
  nickname: ruleOf(displayString),
  zoneinfo: canonicalTimeZone,
  locale: canonicalLocale,
};

/** The rule of a custom attribute: its JSON type, and for strings length, control characters and the pattern. */
export function customRule(definition: CustomAttributeDefinition): z.ZodType<CustomValue, unknown> {
  switch (definition.type) {
    case "number":
      return z.number().finite();
    case "boolean":
      return z.boolean();
    case "string": {
      const pattern = definition.pattern === null ? undefined : new RegExp(`^(?:${definition.pattern})$`, "u");
      return z
        .string()
        .refine((s) => s.length >= 1 && s.length <= MAX_CUSTOM_STRING && !CONTROL.test(s) && isWellFormed(s))
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
