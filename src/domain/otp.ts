import { emailKey, isEmailAddress, normalizePhoneNumber, type Channel } from "./attributes.js";
import { DomainError, invalidRequest } from "./errors.js";
import { OTP_USAGES, type OtpChallenge, type OtpUsage } from "./ports.js";
import { hashOtpToken, otpCodeMatches } from "../otp/secrets.js";

/** How long a code can be entered. */
export const OTP_CODE_TTL_SECONDS = 60;
/** How long a token can be used (with a fresh code it would be resent instead). */
export const OTP_TOKEN_TTL_SECONDS = 300;
/** Wrong codes that burn a token. */
export const OTP_MAX_ATTEMPTS = 5;
/** The only usage `PATCH /userinfo` accepts. */
export const UPDATE_USERINFO = "update_userinfo";

/** What a token must have been issued for to be accepted by an update. */
export interface OtpExpectation {
  readonly channel: Channel;
  readonly target: string;
  readonly clientId: string | null;
  readonly userSub: string;
}

/** The requester a challenge is issued by: superseding is per requester. */
export const requesterOf = (by: { userSub: string } | { clientId: string }): string =>
  "userSub" in by ? `user:${by.userSub}` : `client:${by.clientId}`;

/** True when `challenge` is a live token issued for this update. */
export function tokenAccepts(challenge: OtpChallenge, expected: OtpExpectation, now: Date): boolean {
  return (
    challenge.consumedAt === null &&
    challenge.attempts < OTP_MAX_ATTEMPTS &&
    challenge.expiresAt > now &&
    challenge.usage === UPDATE_USERINFO &&
    challenge.channel === expected.channel &&
    challenge.target === expected.target &&
    challenge.clientId === expected.clientId &&
    // A token sent with an application's credentials is bound to no user; one sent with a user token, to that user.
    (challenge.userSub === null || challenge.userSub === expected.userSub)
  );
}

/** True when `code` is the challenge's code and still valid. */
export function codeAccepts(challenge: OtpChallenge, otpToken: string, code: string, now: Date): boolean {
  return challenge.codeExpiresAt > now && otpCodeMatches(otpToken, code, challenge.codeHash);
}

export { hashOtpToken };

/** A validated `POST /otp/send` body. */
export interface SendOtpRequest {
  readonly usage: OtpUsage;
  readonly channel: Channel;
  /** Where the code goes: the normalized phone number, or the email as given. */
  readonly to: string;
  /** What the challenge is bound to: the phone number, or the email in lower case. */
  readonly target: string;
}

/**
 * Validates a `POST /otp/send` body: `usage` (default `login`) and exactly one of `phone_number` / `email`,
 * normalized by the same rules as an update.
 * @throws DomainError `invalid_request`, `malformed_phone_number` or `malformed_email`
 */
export function parseSendOtpRequest(body: unknown): SendOtpRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  const input = body as Record<string, unknown>;
  const usage = Object.hasOwn(input, "usage") ? input.usage : "login";
  if (typeof usage !== "string" || !(OTP_USAGES as readonly string[]).includes(usage)) {
    throw invalidRequest(`usage must be one of ${OTP_USAGES.join(", ")}.`, "usage");
  }
  const hasPhone = Object.hasOwn(input, "phone_number");
  const hasEmail = Object.hasOwn(input, "email");
  if (hasPhone === hasEmail) throw invalidRequest("Exactly one of phone_number and email is required.");
  if (hasPhone) {
    const phone = typeof input.phone_number === "string" ? normalizePhoneNumber(input.phone_number) : undefined;
    if (phone === undefined) throw new DomainError("malformed_phone_number", { field: "phone_number" });
    return { usage: usage as OtpUsage, channel: "sms", to: phone, target: phone };
  }
  const email = input.email;
  if (typeof email !== "string" || !isEmailAddress(email)) throw new DomainError("malformed_email", { field: "email" });
  return { usage: usage as OtpUsage, channel: "email", to: email, target: emailKey(email) };
}
