import { randomBytes } from "node:crypto";
import { clientSecretMatches, hashClientSecret } from "../auth/client-secrets.js";
import { DomainError, invalidRequest } from "../domain/errors.js";
import { OTP_CODE_TTL_SECONDS, parseSendOtpRequest, UPDATE_USERINFO, type SendOtpRequest } from "../domain/otp.js";
import type { Clock, RateLimit, Store } from "../domain/ports.js";
import type { Principal } from "../domain/service.js";
import type { Logger } from "../logger.js";
import type { OtpSender } from "./delivery.js";
import { createOtpIssuer } from "./issuer.js";
import type { OtpRandom } from "./secrets.js";

/** Who asks for a code: an application with its credentials, or a signed-in user. */
export type OtpRequester =
  | { readonly kind: "client"; readonly clientId: string }
  | { readonly kind: "user"; readonly principal: Principal };

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
  readonly log: Logger;
}

/** Sending one-time codes: the use case behind `POST /otp/send` and the `sendOtp` mutation. */
export type OtpService = ReturnType<typeof createOtpService>;

const DAY_SECONDS = 86_400;

/** The application a code is sent for: the authenticated one, or the one the user's token was issued to. */
const clientOf = (requester: OtpRequester): string | null =>
  requester.kind === "client" ? requester.clientId : requester.principal.clientId;

/** Creates the OTP service. */
export function createOtpService({ store, clock, random, sender, limits, log }: OtpServiceDeps) {
  const issue = createOtpIssuer({ otps: store.otps, clock, random });
  // Unknown clients are checked against this hash, so that timing does not tell which client ids exist.
  let decoy: Promise<string> | undefined;

  /**
   * Checks an application's credentials in constant time.
   * @throws DomainError `invalid_client`
   */
  async function authenticateClient(clientId: string, secret: string): Promise<OtpRequester> {
    const application = await store.applications.find(clientId);
    decoy ??= hashClientSecret(randomBytes(16).toString("hex"));
    const stored = application?.secretHash ?? (await decoy);
    const matches = await clientSecretMatches(secret, stored);
    if (application?.secretHash == null || !matches) throw new DomainError("invalid_client");
    return { kind: "client", clientId };
  }

  function limitsFor(request: SendOtpRequest, requester: OtpRequester, ip: string | undefined): RateLimit[] {
    const target = `target:${request.channel}:${request.target}`;
    const clientId = clientOf(requester);
    return [
      { key: target, max: 1, windowSeconds: limits.targetIntervalSeconds },
      { key: target, max: limits.targetDailyLimit, windowSeconds: DAY_SECONDS },
      ...(clientId === null ? [] : [{ key: `client:${clientId}`, max: limits.clientLimit, windowSeconds: limits.windowSeconds }]),
      ...(ip === undefined ? [] : [{ key: `ip:${ip}`, max: limits.ipLimit, windowSeconds: limits.windowSeconds }]),
    ];
  }

  /**
   * Validates the request, counts it against the limits, delivers a fresh code and returns its token.
   * @param ip the client's address, for the per-address ceiling
   * @throws DomainError invalid_request, malformed_*, *_rate_limit_exceeded, temporarily_unavailable
   */
  async function sendOtp(requester: OtpRequester, body: unknown, ip: string | undefined): Promise<{ otpToken: string }> {
    const request = parseSendOtpRequest(body);
    if (requester.kind === "user" && request.usage !== UPDATE_USERINFO) {
      throw invalidRequest("With a user access token, usage must be update_userinfo.", "usage");
    }
    const now = clock.now();
    const decision = await store.rateLimits.hit(limitsFor(request, requester, ip), now);
    if (!decision.allowed) {
      const scope = decision.limit.key.startsWith("target:") ? undefined : decision.limit.key.split(":")[0];
      const code = request.channel === "sms" ? "sms_rate_limit_exceeded" : "email_rate_limit_exceeded";
      const what = request.channel === "sms" ? "SMS" : "Email";
      throw new DomainError(code, {
        ...(scope === undefined ? {} : { description: `${what} rate limit exceeded for this ${scope === "ip" ? "network address" : "client"}` }),
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
    const code = random.code();
    try {
      const expiresAt = new Date(now.getTime() + OTP_CODE_TTL_SECONDS * 1000);
      await sender.send({ channel: request.channel, to: request.to, code, usage: request.usage, expiresAt });
    } catch (error) {
      log.warn({ err: error, channel: request.channel }, "OTP delivery failed");
      await store.rateLimits.forget(decision.eventIds).catch(() => undefined);
      throw new DomainError("temporarily_unavailable", { cause: error });
    }
    const issued = await issue({
      channel: request.channel,
      target: request.target,
      usage: request.usage,
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

  return { authenticateClient, sendOtp, purgeExpired };
}
