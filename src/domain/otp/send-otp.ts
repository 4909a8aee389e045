import { addressOf, type Channel } from "../attributes.js";
import { DomainError, invalidRequest } from "../errors.js";
import { type Clock, DeliveryFailure, type OtpSender, type RateLimit, type Store } from "../ports.js";
import type { OtpRequester } from "../requesters.js";
import { WRONG_TYPE, type WrongType } from "../update-command.js";
import { createOtpIssuer, OTP_CODE_TTL_SECONDS, OTP_USAGES, type OtpUsage, UPDATE_USERINFO } from "./challenges.js";
import type { OtpRandom } from "./secrets.js";

/** Where to send a code, and what for: exactly one of `phoneNumber` and `email`, each as given. */
export interface SendOtpCommand {
  /** Default `login` (Tencent's); with a user's access token only `update_userinfo` is allowed. */
  readonly usage?: string | WrongType;
  readonly phoneNumber?: string | null | WrongType;
  readonly email?: string | null | WrongType;
}

/** The send limits (SPEC 1.3 and configuration). */
export interface OtpLimits {
  readonly targetIntervalSeconds: number;
  readonly targetDailyLimit: number;
  readonly clientLimit: number;
  readonly ipLimit: number;
  readonly windowSeconds: number;
}

/** Dependencies of {@link createOtpService}. */
export interface OtpServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly random: OtpRandom;
  readonly sender: OtpSender;
  readonly limits: OtpLimits;
}

/** Sending one-time codes: the use case behind `POST /otp/send` and the `sendOtp` mutation. */
export type OtpService = ReturnType<typeof createOtpService>;

const DAY_SECONDS = 86_400;

/** A validated send: the channel, where the code goes and what the challenge is bound to. */
interface Delivery {
  readonly usage: OtpUsage;
  readonly channel: Channel;
  /** Where the code goes: the normalized phone number, or the email as given. */
  readonly to: string;
  /** What the challenge is bound to: the phone number, or the email in lower case. */
  readonly target: string;
}

/**
 * Checks a send: `usage` and exactly one target, normalized by the same rules as an update.
 * @throws DomainError `invalid_request`, `malformed_phone_number` or `malformed_email`
 */
function validateSend(command: SendOtpCommand, requester: OtpRequester): Delivery {
  const usage = command.usage ?? "login";
  if (usage === WRONG_TYPE || !(OTP_USAGES as readonly string[]).includes(usage)) {
    throw invalidRequest(`usage must be one of ${OTP_USAGES.join(", ")}.`, "usage");
  }
  if ((command.phoneNumber === undefined) === (command.email === undefined)) {
    throw invalidRequest("Exactly one of phone_number and email is required.");
  }
  const channel = command.phoneNumber !== undefined ? "sms" : "email";
  const address = addressOf(channel === "sms" ? "phone_number" : "email", command.phoneNumber ?? command.email);
  const delivery: Delivery = { usage: usage as OtpUsage, channel, to: address.value, target: address.target };
  if (requester.kind === "user" && delivery.usage !== UPDATE_USERINFO) {
    throw invalidRequest("With a user access token, usage must be update_userinfo.", "usage");
  }
  return delivery;
}

/**
 * How much of a target's daily budget users' access tokens may spend: half of it together, a tenth of it each (at
 * least one send). The rest stays for the applications' own sends (login, sign-up, password reset).
 */
export function userShares(targetDailyLimit: number): { usersTogether: number; perUser: number } {
  return {
    usersTogether: Math.max(1, Math.floor(targetDailyLimit / 2)),
    perUser: Math.max(1, Math.floor(targetDailyLimit / 10)),
  };
}

/** The application a code is sent for: the authenticated one, or the one the user's token was issued to. */
const clientOf = (requester: OtpRequester): string | null =>
  requester.kind === "client" ? requester.clientId : requester.principal.clientId;

/** Creates the OTP service. */
export function createOtpService({ store, clock, random, sender, limits }: OtpServiceDeps) {
  const issue = createOtpIssuer({ otps: store.otps, clock, random });

  function limitsFor(delivery: Delivery, requester: OtpRequester): RateLimit[] {
    const target = `target:${delivery.channel}:${delivery.target}`;
    const clientId = clientOf(requester);
    // Users (the Bearer form: "send a code to my new address") may spend only part of a target's daily budget, each
    // user a small share of it: no user can lock the owner out of the login codes an application sends them.
    const { usersTogether, perUser } = userShares(limits.targetDailyLimit);
    const byUsers =
      requester.kind === "user"
        ? [
            { key: `${target}:users`, max: usersTogether, windowSeconds: DAY_SECONDS },
            { key: `${target}:user:${requester.principal.sub}`, max: perUser, windowSeconds: DAY_SECONDS },
          ]
        : [];
    return [
      { key: target, max: 1, windowSeconds: limits.targetIntervalSeconds },
      { key: target, max: limits.targetDailyLimit, windowSeconds: DAY_SECONDS },
      ...byUsers,
      ...(clientId === null
        ? []
        : [{ key: `client:${clientId}`, max: limits.clientLimit, windowSeconds: limits.windowSeconds }]),
      ...(requester.address === undefined
        ? []
        : [{ key: `ip:${requester.address}`, max: limits.ipLimit, windowSeconds: limits.windowSeconds }]),
    ];
  }

  /**
   * Validates the command, counts it against the limits, delivers a fresh code and returns its token.
   * @throws DomainError invalid_request, malformed_*, *_rate_limit_exceeded, temporarily_unavailable
   */
  async function sendOtp(requester: OtpRequester, command: SendOtpCommand): Promise<{ otpToken: string }> {
    const delivery = validateSend(command, requester);
    const now = clock.now();
    const decision = await store.rateLimits.hit(limitsFor(delivery, requester), now);
    if (!decision.allowed) {
      const scope = decision.limit.key.startsWith("target:") ? undefined : decision.limit.key.split(":")[0];
      const code = delivery.channel === "sms" ? "sms_rate_limit_exceeded" : "email_rate_limit_exceeded";
      const what = delivery.channel === "sms" ? "SMS" : "Email";
      throw new DomainError(code, {
        ...(scope === undefined
          ? {}
          : { description: `${what} rate limit exceeded for this ${scope === "ip" ? "network address" : "client"}` }),
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
    const code = random.code();
    try {
      const expiresAt = new Date(now.getTime() + OTP_CODE_TTL_SECONDS * 1000);
      await sender.send({ channel: delivery.channel, to: delivery.to, code, usage: delivery.usage, expiresAt });
    } catch (error) {
      // A message that may have reached the provider may reach the target: it counts against every limit.
      if (error instanceof DeliveryFailure && !error.mayHaveBeenSent) {
        await store.rateLimits.forget(decision.eventIds).catch(() => undefined);
      }
      throw new DomainError("temporarily_unavailable", { cause: error });
    }
    const issued = await issue({
      channel: delivery.channel,
      target: delivery.target,
      usage: delivery.usage,
      clientId: clientOf(requester),
      userSub: requester.kind === "user" ? requester.principal.sub : null,
      code,
      issuedAt: now,
    });
    return { otpToken: issued.otpToken };
  }

  /** Deletes expired challenges and old rate-limit events; returns how many rows went. */
  async function purgeExpired(): Promise<number> {
    const now = clock.now();
    const [challenges, events] = await Promise.all([
      store.otps.purgeExpired(new Date(now.getTime() - 3_600_000)),
      store.rateLimits.purge(new Date(now.getTime() - DAY_SECONDS * 1000)),
    ]);
    return challenges + events;
  }

  return { sendOtp, purgeExpired };
}
