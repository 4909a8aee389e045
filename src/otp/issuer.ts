import type { Channel } from "../domain/attributes.js";
import { OTP_CODE_TTL_SECONDS, OTP_TOKEN_TTL_SECONDS, requesterOf } from "../domain/otp.js";
import type { Clock, OtpRepository } from "../domain/ports.js";
import { hashOtpCode, hashOtpToken, type OtpRandom } from "./secrets.js";

/** What a challenge is issued for. */
export interface ChallengeRequest {
  readonly channel: Channel;
  /** The normalized phone number, or the email in lower case. */
  readonly target: string;
  readonly usage: string;
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

/** Creates the {@link OtpIssuer}. */
export function createOtpIssuer({ otps, clock, random }: { otps: OtpRepository; clock: Clock; random: OtpRandom }): OtpIssuer {
  return async (request) => {
    const now = request.issuedAt ?? clock.now();
    const otpToken = random.token();
    const code = request.code ?? random.code();
    const codeExpiresAt = new Date(now.getTime() + OTP_CODE_TTL_SECONDS * 1000);
    const expiresAt = new Date(now.getTime() + OTP_TOKEN_TTL_SECONDS * 1000);
    const requester =
      request.userSub !== null
        ? requesterOf({ userSub: request.userSub })
        : requesterOf({ clientId: request.clientId ?? "" });
    await otps.issue(
      {
        tokenHash: hashOtpToken(otpToken),
        codeHash: hashOtpCode(otpToken, code),
        channel: request.channel,
        target: request.target,
        usage: request.usage,
        clientId: request.clientId,
        userSub: request.userSub,
        requester,
        codeExpiresAt,
        expiresAt,
      },
      now,
    );
    return { otpToken, code, codeExpiresAt, expiresAt };
  };
}
