import { type CustomAttributeDefinition, type CustomValue, STANDARD_CLAIMS } from "./attributes.js";
import type { UserRecord } from "./ports.js";

/**
 * The signed-in user's profile as the calling application may read it: `sub` always, and of the other claims only
 * those the application's list names and that have a value (SPEC 3). Faces render it in their own format.
 */
export interface UserInfo {
  readonly sub: string;
  readonly name?: string;
  readonly nickname?: string;
  readonly email?: string;
  /** True when the email was proven by OTP; present with the email only. */
  readonly emailVerified?: boolean;
  readonly phoneNumber?: string;
  /** True when the phone number was proven by OTP; present with the phone number only. */
  readonly phoneNumberVerified?: boolean;
  readonly zoneinfo?: string;
  readonly locale?: string;
  readonly updatedAt?: Date;
  /** Operator-defined attributes the application may read, in definition order. */
  readonly customAttributes: Readonly<Record<string, CustomValue>>;
  /** +1 on each successful write. */
  readonly version: number;
}

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

/** The claims each OIDC scope grants (OpenID Connect Core 5.4); `profile` also grants every custom attribute. */
export const SCOPE_CLAIMS = {
  profile: ["name", "nickname", "zoneinfo", "locale", "updated_at"],
  email: ["email", "email_verified"],
  phone: ["phone_number", "phone_number_verified"],
} as const;

/** Of the claims `allowed`, those the `scopes` grant (SPEC 5.6). */
export function claimsOfScopes(
  allowed: readonly string[],
  scopes: readonly string[],
  customAttributes: readonly CustomAttributeDefinition[],
): readonly string[] {
  const granted = new Set<string>();
  for (const scope of scopes) {
    if (Object.hasOwn(SCOPE_CLAIMS, scope))
      for (const claim of SCOPE_CLAIMS[scope as keyof typeof SCOPE_CLAIMS]) granted.add(claim);
    if (scope === "profile") for (const { name } of customAttributes) granted.add(name);
  }
  return allowed.filter((claim) => granted.has(claim));
}

/** What `user` shows an application that may read the claims `allowed` (`authenticationMethod` never). */
export function userInfoOf(
  user: UserRecord,
  allowed: readonly string[],
  customAttributes: readonly CustomAttributeDefinition[],
): UserInfo {
  const permitted = new Set(allowed);
  permitted.delete("authenticationMethod");
  const custom: Record<string, CustomValue> = {};
  for (const { name } of customAttributes) {
    const value = user.customAttributes[name];
    if (value !== undefined && permitted.has(name)) custom[name] = value;
  }
  // Built up claim by claim (an absent claim is no property at all), in the order of `UserInfo`.
  const info: { -readonly [K in keyof UserInfo]: UserInfo[K] } = { sub: user.sub } as UserInfo;
  if (user.name !== null && permitted.has("name")) info.name = user.name;
  if (user.nickname !== null && permitted.has("nickname")) info.nickname = user.nickname;
  if (user.email !== null && permitted.has("email")) info.email = user.email;
  if (user.email !== null && permitted.has("email_verified")) info.emailVerified = user.emailVerified;
  if (user.phoneNumber !== null && permitted.has("phone_number")) info.phoneNumber = user.phoneNumber;
  if (user.phoneNumber !== null && permitted.has("phone_number_verified")) {
    info.phoneNumberVerified = user.phoneNumberVerified;
  }
  if (user.zoneinfo !== null && permitted.has("zoneinfo")) info.zoneinfo = user.zoneinfo;
  if (user.locale !== null && permitted.has("locale")) info.locale = user.locale;
  if (permitted.has("updated_at")) info.updatedAt = user.updatedAt;
  info.customAttributes = custom;
  info.version = user.version;
  return info;
}
