import { STANDARD_CLAIMS, type CustomAttributeDefinition } from "./attributes.js";
import type { UserRecord } from "./ports.js";

/** A claims object as sent on the wire: `sub` first, absent claims omitted. */
export type Claims = Record<string, string | number | boolean>;

/**
 * The claims an application reads: its registered list, or the default list for unknown applications
 * (`undefined` default: every standard claim and every custom attribute).
 */
export function claimsListFor(
  registered: readonly string[] | null,
  defaultClaims: readonly string[] | undefined,
  customAttributes: readonly CustomAttributeDefinition[],
): readonly string[] {
  return registered ?? defaultClaims ?? [...STANDARD_CLAIMS, ...customAttributes.map((d) => d.name)];
}

/** Every claim a profile has a value for, standard claims first. */
function allClaims(user: UserRecord, customAttributes: readonly CustomAttributeDefinition[]): Claims {
  const claims: Claims = { sub: user.sub };
  const put = (name: string, value: string | number | boolean | null | undefined) => {
    if (value !== null && value !== undefined) claims[name] = value;
  };
  put("name", user.name);
  put("nickname", user.nickname);
  put("email", user.email);
  if (user.email !== null) put("email_verified", user.emailVerified);
  put("zoneinfo", user.zoneinfo);
  put("locale", user.locale);
  put("phone_number", user.phoneNumber);
  if (user.phoneNumber !== null) put("phone_number_verified", user.phoneNumberVerified);
  put("updated_at", Math.floor(user.updatedAt.getTime() / 1000));
  for (const { name } of customAttributes) put(name, user.customAttributes[name]);
  return claims;
}

/**
 * The claims of `user` that `allowed` lists and that have a value: `sub` always, `authenticationMethod` never.
 */
export function filterClaims(
  user: UserRecord,
  allowed: readonly string[],
  customAttributes: readonly CustomAttributeDefinition[],
): Claims {
  const all = allClaims(user, customAttributes);
  const permitted = new Set(allowed);
  const claims: Claims = {};
  for (const [name, value] of Object.entries(all)) {
    if (name === "sub" || (permitted.has(name) && name !== "authenticationMethod")) claims[name] = value;
  }
  return claims;
}
