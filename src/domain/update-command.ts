import {
  type Address,
  addressOf,
  type CustomAttributeDefinition,
  type CustomValue,
  customRule,
  isWellFormed,
  PROFILE_ATTRIBUTES,
  type ProfileAttribute,
  profileRules,
  VERIFIED_ATTRIBUTES,
  type VerifiedAttribute,
} from "./attributes.js";
import { DomainError, invalidRequest } from "./errors.js";
import type { UserChanges } from "./ports.js";

/**
 * A value a client sent with a type its attribute cannot take (a number for `name`, an object for an OTP code).
 * Only a face whose wire format is untyped (REST's JSON) produces it; the domain reports it in its place in the
 * order of checks, as `illegal_parameter_value` (or `malformed_*` for an address).
 */
export const WRONG_TYPE: unique symbol = Symbol("wrong type");
export type WrongType = typeof WRONG_TYPE;

/** A JSON value as a client sent it: custom attributes are typed by the operator's definitions, checked here. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A new email or phone number and the OTP that proves the caller controls it; each part as given, if given. */
export interface IdentifierChange {
  readonly value?: string | null | WrongType;
  readonly otpToken?: string | null | WrongType;
  readonly otp?: string | null | WrongType;
}

/**
 * What a caller asks to change in their profile. An omitted attribute is left alone; `null` removes one.
 * Faces build it from their own wire format: REST from the Tencent JSON body, GraphQL from its input type.
 */
export interface UpdateCommand {
  readonly profile?: Partial<Record<ProfileAttribute, string | null | WrongType>>;
  readonly phoneNumber?: IdentifierChange;
  readonly email?: IdentifierChange;
  /** Operator-defined attributes by name (`null`: remove). A name that is not defined is an unknown attribute. */
  readonly custom?: ReadonlyMap<string, JsonValue>;
  /** Built-in attributes the request named that nobody may write (`sub`, `email_verified`, ...). */
  readonly readOnly?: readonly string[];
}

/** A proven identifier change: the value to store, the target its OTP was sent to, and the OTP. */
export interface VerifiedChange extends Address {
  readonly attribute: VerifiedAttribute;
  readonly otpToken: string;
  readonly otp: string;
}

/**
 * An update that passed every rule, before its OTPs are checked: the direct changes as they will be written, and the
 * identifier changes that still need their proof.
 */
export interface ValidUpdate extends Pick<UserChanges, "profile" | "customSet" | "customUnset"> {
  /** Phone number first, as the checks run. */
  readonly verified: readonly VerifiedChange[];
}

/** The description of the `invalid_request` for attributes that do not exist. */
export const UNKNOWN_ATTRIBUTES = "Unknown attribute(s) found.";
const UNSUPPORTED_ATTRIBUTES = "Unsupported user attribute(s) found.";

/** True when the command names a custom attribute that `definitions` does not know. */
export function namesUnknownAttribute(
  command: UpdateCommand,
  definitions: readonly CustomAttributeDefinition[],
): boolean {
  const known = new Set(definitions.map((d) => d.name));
  return [...(command.custom?.keys() ?? [])].some((name) => !known.has(name));
}

const illegal = (field: string): DomainError => new DomainError("illegal_parameter_value", { field });

/**
 * Checks an update against the attribute rules, failing in the order the contract fixes (SPEC 1.1 steps 3-6):
 * unknown attributes, unsupported ones, missing companions, malformed phone number, malformed email, illegal values.
 * @throws DomainError with the first failure.
 */
export function validateUpdate(command: UpdateCommand, definitions: readonly CustomAttributeDefinition[]): ValidUpdate {
  const custom = new Map(definitions.map((d) => [d.name, d]));
  const customEntries = [...(command.custom ?? new Map<string, JsonValue>())];
  if (namesUnknownAttribute(command, definitions)) throw invalidRequest(UNKNOWN_ATTRIBUTES);
  if ((command.readOnly?.length ?? 0) > 0 || customEntries.some(([name]) => custom.get(name)?.writable !== true)) {
    throw invalidRequest(UNSUPPORTED_ATTRIBUTES);
  }
  for (const attribute of ["phone_number", "email"] as const) checkCompanions(attribute, changeOf(command, attribute));

  // Malformed addresses are reported before any other illegal value, phone number first.
  const phone =
    command.phoneNumber?.value === undefined ? undefined : addressOf("phone_number", command.phoneNumber.value);
  const email = command.email?.value === undefined ? undefined : addressOf("email", command.email.value);
  const verified = [
    ...(phone ? [withOtp("phone_number", command.phoneNumber!, phone)] : []),
    ...(email ? [withOtp("email", command.email!, email)] : []),
  ];

  const profile: Partial<Record<ProfileAttribute, string | null>> = {};
  for (const attribute of PROFILE_ATTRIBUTES) {
    const raw = command.profile?.[attribute];
    if (raw === undefined) continue;
    if (raw === null) {
      profile[attribute] = null;
      continue;
    }
    const parsed = raw === WRONG_TYPE ? undefined : profileRules[attribute](raw);
    if (parsed === undefined) throw illegal(attribute);
    profile[attribute] = parsed;
  }

  const customSet: Record<string, CustomValue> = {};
  const customUnset: string[] = [];
  for (const [name, raw] of customEntries) {
    if (raw === null) {
      customUnset.push(name);
      continue;
    }
    const parsed = customRule(custom.get(name)!).safeParse(raw);
    if (!parsed.success) throw illegal(name);
    customSet[name] = parsed.data;
  }
  return { profile, customSet, customUnset, verified };
}

const changeOf = (command: UpdateCommand, attribute: VerifiedAttribute) =>
  attribute === "email" ? command.email : command.phoneNumber;

function checkCompanions(attribute: VerifiedAttribute, change: IdentifierChange | undefined): void {
  if (change === undefined) return;
  const { token, code } = VERIFIED_ATTRIBUTES[attribute];
  const given = { [token]: change.otpToken !== undefined, [code]: change.otp !== undefined };
  if (change.value !== undefined) {
    const missing = [token, code].filter((k) => !given[k]);
    if (missing.length > 0) throw invalidRequest(`${attribute} requires ${missing.join(" and ")}.`, attribute);
  } else {
    const orphans = [token, code].filter((k) => given[k]);
    if (orphans.length > 0) throw invalidRequest(`${orphans.join(" and ")} given without ${attribute}.`, orphans[0]);
  }
}

function withOtp(attribute: VerifiedAttribute, change: IdentifierChange, value: Address): VerifiedChange {
  const { token, code } = VERIFIED_ATTRIBUTES[attribute];
  if (typeof change.otpToken !== "string" || !isWellFormed(change.otpToken)) throw illegal(token);
  if (typeof change.otp !== "string" || !isWellFormed(change.otp)) throw illegal(code);
  return { attribute, ...value, otpToken: change.otpToken, otp: change.otp };
}
