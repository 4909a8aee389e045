import type { UserInfo } from "../domain/claims.js";

/** A claims object as sent on the wire: `sub` first, absent claims omitted. */
export type Claims = Record<string, string | number | boolean>;

/**
 * The OIDC claims of a profile (SPEC 3): the body of `GET /userinfo`, in the order Tencent CIAM answers
 * (standard claims, then custom attributes); `updated_at` in seconds since the epoch.
 */
export function claimsOf(info: UserInfo): Claims {
  const claims: Claims = { sub: info.sub };
  const put = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) claims[name] = value;
  };
  put("name", info.name);
  put("nickname", info.nickname);
  put("email", info.email);
  put("email_verified", info.emailVerified);
  put("zoneinfo", info.zoneinfo);
  put("locale", info.locale);
  put("phone_number", info.phoneNumber);
  put("phone_number_verified", info.phoneNumberVerified);
  put("updated_at", info.updatedAt === undefined ? undefined : Math.floor(info.updatedAt.getTime() / 1000));
  // Custom attribute names never collide with standard claims (the CLI refuses reserved names).
  for (const [name, value] of Object.entries(info.customAttributes)) claims[name] = value;
  return claims;
}
