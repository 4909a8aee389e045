import type { Channel } from "./attributes.js";
import type { OtpChallenge } from "./ports.js";
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
