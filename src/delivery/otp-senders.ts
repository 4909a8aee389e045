import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Transporter } from "nodemailer";
import type { Config } from "../config.js";
import type { Channel } from "../domain/attributes.js";
import { OTP_CODE_TTL_SECONDS } from "../domain/otp/challenges.js";
import { DeliveryFailure, type OtpMessage, type OtpSender } from "../domain/ports.js";
import type { Logger } from "../logger.js";

/** Development delivery: the code is written to the log, and nowhere else. */
export function logSender(log: Logger): OtpSender {
  return {
    async send({ channel, to, code, usage, expiresAt }) {
      log.info(
        { otp: { channel, to, code, usage, expires_at: expiresAt.toISOString() } },
        "OTP code (development delivery)",
      );
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
export function webhookSender({
  url,
  secret,
  timeoutMs,
}: {
  url: string;
  secret: string;
  timeoutMs: number;
}): OtpSender {
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
        throw new DeliveryFailure(`webhook unreachable: ${name}`, !neverConnected(error), { cause: error });
      });
      // A 4xx is the receiver refusing the message; a 5xx may come after it passed the message on.
      if (status < 200 || status > 299)
        throw new DeliveryFailure(`webhook answered ${status}`, status >= 500 || status < 400);
    },
  };
}

/** Email delivery over SMTP (nodemailer, loaded on first use: most deployments never need it). */
export function smtpSender({
  url,
  from,
  timeoutMs,
}: {
  url: string;
  from: string;
  timeoutMs: number;
}): OtpSender & { close(): void } {
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
        transport ??= connect();
        await (await transport).sendMail({
          from,
          to,
          subject: `Your verification code is ${code}`,
          text: `Your verification code is ${code}.\n\nIt expires in ${OTP_CODE_TTL_SECONDS} seconds. If you did not ask for it, ignore this email.\n`,
        });
      } catch (error) {
        // nodemailer's "responseCode" is the server's answer: 5xx is a permanent refusal of the message.
        const refused = neverConnected(error) || Number((error as { responseCode?: unknown }).responseCode) >= 500;
        throw new DeliveryFailure(`SMTP delivery failed: ${(error as Error).message}`, !refused, { cause: error });
      }
    },
    close: () =>
      void transport?.then(
        (t) => t.close(),
        () => undefined,
      ),
  };
}

/** Sends each channel through its own sender; a channel without one fails. */
export function channelRouter(senders: Partial<Record<Channel, OtpSender>>): OtpSender {
  return {
    async send(message) {
      const sender = senders[message.channel];
      if (sender === undefined) throw new DeliveryFailure(`no delivery configured for ${message.channel}`, false);
      await sender.send(message);
    },
  };
}

/** True for a network error raised before any byte reached the receiver: nothing can have been delivered. */
function neverConnected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" &&
    /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNECTION|EDNS)$/.test(code)
  );
}

/** Logs every failed delivery (without the code) and passes the failure on. */
export function loggingFailures(sender: OtpSender, log: Logger): OtpSender {
  return {
    async send(message) {
      try {
        await sender.send(message);
      } catch (error) {
        log.warn({ err: error, channel: message.channel }, "OTP delivery failed");
        throw error;
      }
    },
  };
}

/** The configured OTP delivery: `log`, `webhook` (both channels), or `smtp` for email with the webhook for SMS. */
export function otpDelivery(config: Config["otp"], log: Logger): { sender: OtpSender; close(): void } {
  const { delivery, webhookUrl, webhookSecret, webhookTimeoutMs, smtpUrl, smtpFrom } = config;
  const webhook =
    webhookUrl !== undefined && webhookSecret !== undefined
      ? webhookSender({ url: webhookUrl, secret: webhookSecret, timeoutMs: webhookTimeoutMs })
      : undefined;
  switch (delivery) {
    case "log":
      return { sender: logSender(log), close: () => undefined };
    case "webhook":
      return { sender: webhook!, close: () => undefined };
    case "smtp": {
      const smtp = smtpSender({ url: smtpUrl!, from: smtpFrom!, timeoutMs: webhookTimeoutMs });
      if (webhook === undefined) log.warn("OTP_DELIVERY=smtp without OTP_WEBHOOK_URL: SMS codes cannot be sent");
      return { sender: channelRouter({ email: smtp, ...(webhook && { sms: webhook }) }), close: () => smtp.close() };
    }
  }
}
