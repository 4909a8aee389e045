import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Transporter } from "nodemailer";
import type { Channel } from "../domain/attributes.js";
import { OTP_CODE_TTL_SECONDS } from "../domain/otp.js";
import type { Logger } from "../logger.js";

/** One code to deliver. */
export interface OtpMessage {
  readonly channel: Channel;
  /** The normalized phone number, or the email address as the user gave it. */
  readonly to: string;
  readonly code: string;
  readonly usage: string;
  /** When the code stops being accepted. */
  readonly expiresAt: Date;
}

/** Delivers codes. Rejects when the code could not be handed over; the send then fails with 503. */
export interface OtpSender {
  send(message: OtpMessage): Promise<void>;
}

/** A delivery that failed; its message is for logs only. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
}

/** Development delivery: the code is written to the log, and nowhere else. */
export function logSender(log: Logger): OtpSender {
  return {
    async send({ channel, to, code, usage, expiresAt }) {
      log.info({ otp: { channel, to, code, usage, expires_at: expiresAt.toISOString() } }, "OTP code (development delivery)");
    },
  };
}

/** The webhook body, exactly as SPEC 4 specifies; `expires_at` in seconds since the epoch. */
export const webhookBody = ({ channel, to, code, usage, expiresAt }: OtpMessage): string =>
  JSON.stringify({ channel, to, code, usage, expires_at: Math.floor(expiresAt.getTime() / 1000) });

/** The `X-Signature` header of a webhook body: `sha256=<hex HMAC-SHA256 with the shared secret>`. */
export const webhookSignature = (secret: string, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/**
 * Webhook delivery: a signed JSON POST; anything but a 2xx answer within `timeoutMs` is a failure, redirects
 * included. node:http rather than `fetch`: undici's fetch costs ~35 MB of memory for one request a minute per user.
 */
export function webhookSender({ url, secret, timeoutMs }: { url: string; secret: string; timeoutMs: number }): OtpSender {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return {
    async send(message) {
      const body = webhookBody(message);
      const status = await new Promise<number>((resolve, reject) => {
        const outgoing = request(
          target,
          {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              "x-signature": webhookSignature(secret, body),
            },
            signal: AbortSignal.timeout(timeoutMs),
          },
          (response) => {
            response.resume();
            response.once("end", () => resolve(response.statusCode ?? 0));
            response.once("error", reject);
          },
        );
        outgoing.once("error", reject);
        outgoing.end(body);
      }).catch((error: unknown) => {
        const name = (error as Error).name === "AbortError" ? "TimeoutError" : (error as Error).name;
        throw new DeliveryError(`webhook unreachable: ${name}`, { cause: error });
      });
      if (status < 200 || status > 299) throw new DeliveryError(`webhook answered ${status}`);
    },
  };
}

/** Email delivery over SMTP (nodemailer, loaded on first use: most deployments never need it). */
export function smtpSender({ url, from, timeoutMs }: { url: string; from: string; timeoutMs: number }): OtpSender & { close(): void } {
  let transport: Promise<Transporter> | undefined;
  const connect = async () => {
    const { default: nodemailer } = await import("nodemailer");
    return nodemailer.createTransport(url, {
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    } as object);
  };
  return {
    async send({ to, code }) {
      try {
        await (await (transport ??= connect())).sendMail({
          from,
          to,
          subject: `Your verification code is ${code}`,
          text: `Your verification code is ${code}.\n\nIt expires in ${OTP_CODE_TTL_SECONDS} seconds. If you did not ask for it, ignore this email.\n`,
        });
      } catch (error) {
        throw new DeliveryError(`SMTP delivery failed: ${(error as Error).message}`, { cause: error });
      }
    },
    close: () => void transport?.then((t) => t.close(), () => undefined),
  };
}

/** Sends each channel through its own sender; a channel without one fails. */
export function channelRouter(senders: Partial<Record<Channel, OtpSender>>): OtpSender {
  return {
    async send(message) {
      const sender = senders[message.channel];
      if (sender === undefined) throw new DeliveryError(`no delivery configured for ${message.channel}`);
      await sender.send(message);
    },
  };
}
