import type { Channel } from "../attributes.js";
import { VERIFIED_ATTRIBUTES } from "../attributes.js";
import { DomainError } from "../errors.js";
import type { Clock, OtpChallenge, OtpRepository, TransactionalRepositories } from "../ports.js";
import type { VerifiedChange } from "../update-command.js";
import { hashOtpCode, hashOtpToken, type OtpRandom, otpCodeMatches } from "./secrets.js";

/** How long a code can be entered. */
export const OTP_CODE_TTL_SECONDS = 60;
/** How long a token can be used (with a fresh code it would be resent instead). */
export const OTP_TOKEN_TTL_SECONDS = 300;
/** Wrong codes that burn a token. */
export const OTP_MAX_ATTEMPTS = 5;
/** The usages an OTP can be sent for. */
export const OTP_USAGES = ["update_userinfo", "login", "signup", "reset_password"] as const;
export type OtpUsage = (typeof OTP_USAGES)[number];
/** The only usage an update accepts. */
export const UPDATE_USERINFO = "update_userinfo";

/** What a challenge is issued for. */
export interface ChallengeRequest {
  readonly channel: Channel;
  /** The normalized phone number, or the email in lower case. */
  readonly target: string;
  readonly usage: OtpUsage;
  readonly clientId: string | null;
  /** Set when a user's access token asked for it: binds the challenge to that user. */
  readonly userSub: string | null;
  /** The code, when it was already generated (and delivered); else a fresh one. */
  readonly code?: string;
  /** When the code was delivered, so that the stored expiry is the one the recipient was told; else now. */
  readonly issuedAt?: Date;
}

/** A fresh challenge: the token for the requester, the code for the target. Neither is stored. */
export interface IssuedChallenge {
  readonly otpToken: string;
  readonly code: string;
  readonly codeExpiresAt: Date;
  readonly expiresAt: Date;
}

/** Issues OTP challenges, storing only hashes; a new one supersedes the same requester's earlier one. */
export type OtpIssuer = (request: ChallengeRequest) => Promise<IssuedChallenge>;

/** The requester a challenge is issued by: superseding is per requester (the user, else the application). */
const requesterOf = (request: ChallengeRequest): string =>
  request.userSub !== null ? `user:${request.userSub}` : `client:${request.clientId ?? ""}`;

/** Creates the {@link OtpIssuer}. */
export function createOtpIssuer({
  otps,
  clock,
  random,
}: {
  otps: OtpRepository;
  clock: Clock;
  random: OtpRandom;
}): OtpIssuer {
  return async (request) => {
    const now = request.issuedAt ?? clock.now();
    const otpToken = random.token();
    const code = request.code ?? random.code();
    const codeExpiresAt = new Date(now.getTime() + OTP_CODE_TTL_SECONDS * 1000);
    const expiresAt = new Date(now.getTime() + OTP_TOKEN_TTL_SECONDS * 1000);
    await otps.issue(
      {
        tokenHash: hashOtpToken(otpToken),
        codeHash: hashOtpCode(otpToken, code),
        channel: request.channel,
        target: request.target,
        usage: request.usage,
        clientId: request.clientId,
        userSub: request.userSub,
        requester: requesterOf(request),
        codeExpiresAt,
        expiresAt,
      },
      now,
    );
    return { otpToken, code, codeExpiresAt, expiresAt };
  };
}

/** Who an update's tokens must have been issued to. */
export interface OtpHolder {
  readonly sub: string;
  readonly clientId: string | null;
}

/** True when `challenge` is a live token issued for this update. */
function tokenAccepts(challenge: OtpChallenge, change: VerifiedChange, holder: OtpHolder, now: Date): boolean {
  return (
    challenge.consumedAt === null &&
    challenge.attempts < OTP_MAX_ATTEMPTS &&
    challenge.expiresAt > now &&
    challenge.usage === UPDATE_USERINFO &&
    challenge.channel === VERIFIED_ATTRIBUTES[change.attribute].channel &&
    challenge.target === change.target &&
    challenge.clientId === holder.clientId &&
    // A token sent with an application's credentials is bound to no user; one sent with a user token, to that user.
    (challenge.userSub === null || challenge.userSub === holder.sub)
  );
}

/** True when `code` is the challenge's code and still valid (compared in constant time). */
function codeAccepts(challenge: OtpChallenge, otpToken: string, code: string, now: Date): boolean {
  return challenge.codeExpiresAt > now && otpCodeMatches(otpToken, code, challenge.codeHash);
}

/**
 * Locks and checks every token, then every code, inside the caller's transaction; wrong codes are recorded.
 * Returns the first failure (token errors before code errors, phone number before email) or the challenges to
 * consume with the write.
 */
export async function verifyOtps(
  tx: TransactionalRepositories,
  holder: OtpHolder,
  changes: readonly VerifiedChange[],
  now: Date,
): Promise<{ failure: DomainError } | { challenges: OtpChallenge[] }> {
  // Locks are taken in the order of the token hashes, so that concurrent requests cannot deadlock whichever tokens
  // they name where; the checks then run phone number first.
  const hashes = changes.map((change) => hashOtpToken(change.otpToken));
  const locked = new Map<string, OtpChallenge | null>();
  for (const hash of [...new Set(hashes)].sort()) locked.set(hash, await tx.otps.lockByTokenHash(hash));
  const challenges: OtpChallenge[] = [];
  for (const [i, change] of changes.entries()) {
    const challenge = locked.get(hashes[i]!) ?? null;
    if (challenge === null || !tokenAccepts(challenge, change, holder, now)) {
      const code = change.attribute === "email" ? "bad_email_otp_token" : "bad_phone_number_otp_token";
      return { failure: new DomainError(code, { field: VERIFIED_ATTRIBUTES[change.attribute].token }) };
    }
    challenges.push(challenge);
  }
  let failure: DomainError | undefined;
  for (const [i, change] of changes.entries()) {
    const challenge = challenges[i]!;
    if (codeAccepts(challenge, change.otpToken, change.otp, now)) continue;
    if (challenge.codeExpiresAt > now) await tx.otps.recordWrongCode(challenge.id);
    const code = change.attribute === "email" ? "bad_email_otp" : "bad_phone_number_otp";
    failure ??= new DomainError(code, { field: VERIFIED_ATTRIBUTES[change.attribute].code });
  }
  return failure === undefined ? { challenges } : { failure };
}
