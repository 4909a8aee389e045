import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Transporter } from "nodemailer";
import type { Config } from "../config.js";
import type { Channel } from "../domain/attributes.js";
import type { NoticeMessage, NoticeSender } from "../domain/events.js";
import { OTP_CODE_TTL_SECONDS } from "../domain/otp/challenges.js";
import { DeliveryFailure, type OtpMessage, type OtpSender } from "../domain/ports.js";
import type { Logger } from "../logger.js";

/** Development delivery: the code (and the revert link of a notice) is written to the log, and nowhere else. */
export function logSender(log: Logger): OtpSender & NoticeSender {
  return {
    async send({ channel, to, code, usage, expiresAt }) {
      log.info(
        { otp: { channel, to, code, usage, expires_at: expiresAt.toISOString() } },
        "OTP code (development delivery)",
      );
    },
    async sendNotice({ channel, to, attribute, newValue, revertUrl, expiresAt }) {
      log.info(
        {
          notice: {
            channel,
            to,
            attribute,
            new_value: newValue,
            revert_url: revertUrl,
            expires_at: expiresAt.toISOString(),
          },
        },
        "identifier change notice (development delivery)",
      );
    },
  };
}

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** The webhook body, exactly as SPEC 4 and 5.4 specify; `expires_at` in seconds since the epoch. */
export const webhookBody = ({ channel, to, code, usage, expiresAt }: OtpMessage): string =>
  JSON.stringify({ type: "otp", channel, to, code, usage, expires_at: epochSeconds(expiresAt) });

/** The webhook body of an identifier change notice (SPEC 5.4); `expires_at`: when the revert link expires. */
export const noticeWebhookBody = ({ channel, to, attribute, newValue, revertUrl, expiresAt }: NoticeMessage): string =>
  JSON.stringify({
    type: "identifier_changed",
    channel,
    to,
    attribute,
    new_value: newValue,
    revert_url: revertUrl,
    expires_at: epochSeconds(expiresAt),
  });

/** The email of an identifier change notice: the same facts as the webhook body, in words. */
export function noticeEmail({ attribute, newValue, revertUrl, expiresAt }: NoticeMessage): {
  subject: string;
  text: string;
} {
  const what = attribute === "email" ? "email address" : "phone number";
  return {
    subject: `The ${what} of your account was changed`,
    text:
      `The ${what} of your account was changed from this address to ${newValue}.\n\n` +
      `If you made this change, you can ignore this email. If you did not, undo it with this link, which works once ` +
      `until ${expiresAt.toISOString()}:\n\n${revertUrl}\n`,
  };
}

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
}): OtpSender & NoticeSender {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  const post = async (body: string) => {
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
  };
  return {
    send: (message) => post(webhookBody(message)),
    sendNotice: (notice) => post(noticeWebhookBody(notice)),
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
}): OtpSender & NoticeSender & { close(): void } {
  let transport: Promise<Transporter> | undefined;
  const connect = async () => {
    const { default: nodemailer } = await import("nodemailer");
    return nodemailer.createTransport(url, {
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    } as object);
  };
  const mail = async (to: string, subject: string, text: string) => {
    try {
      transport ??= connect();
      await (await transport).sendMail({ from, to, subject, text });
    } catch (error) {
      // nodemailer's "responseCode" is the server's answer: 5xx is a permanent refusal of the message.
      const refused = neverConnected(error) || Number((error as { responseCode?: unknown }).responseCode) >= 500;
      throw new DeliveryFailure(`SMTP delivery failed: ${(error as Error).message}`, !refused, { cause: error });
    }
  };
  return {
    send: ({ to, code }) =>
      mail(
        to,
        `Your verification code is ${code}`,
        `Your verification code is ${code}.\n\nIt expires in ${OTP_CODE_TTL_SECONDS} seconds. If you did not ask for it, ignore this email.\n`,
      ),
    async sendNotice(notice) {
      const { subject, text } = noticeEmail(notice);
      await mail(notice.to, subject, text);
    },
    close: () =>
      void transport?.then(
        (t) => t.close(),
        () => undefined,
      ),
  };
}

/** Sends each channel through its own sender; a channel without one fails. */
export function channelRouter(senders: Partial<Record<Channel, OtpSender & NoticeSender>>): OtpSender & NoticeSender {
  const senderOf = (channel: Channel) => {
    const sender = senders[channel];
    if (sender === undefined) throw new DeliveryFailure(`no delivery configured for ${channel}`, false);
    return sender;
  };
  return {
    send: async (message) => senderOf(message.channel).send(message),
    sendNotice: async (notice) => senderOf(notice.channel).sendNotice(notice),
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

/**
 * The configured OTP delivery: `log`, `webhook` (both channels), or `smtp` for email with the webhook for SMS. The
 * same channels carry the notices of identifier changes.
 */
export function otpDelivery(
  config: Config["otp"],
  log: Logger,
): { sender: OtpSender; notices: NoticeSender; close(): void } {
  const { delivery, webhookUrl, webhookSecret, webhookTimeoutMs, smtpUrl, smtpFrom } = config;
  const webhook =
    webhookUrl !== undefined && webhookSecret !== undefined
      ? webhookSender({ url: webhookUrl, secret: webhookSecret, timeoutMs: webhookTimeoutMs })
      : undefined;
  switch (delivery) {
    case "log": {
      const sender = logSender(log);
      return { sender, notices: sender, close: () => undefined };
    }
    case "webhook":
      return { sender: webhook!, notices: webhook!, close: () => undefined };
    case "smtp": {
      const smtp = smtpSender({ url: smtpUrl!, from: smtpFrom!, timeoutMs: webhookTimeoutMs });
      if (webhook === undefined) log.warn("OTP_DELIVERY=smtp without OTP_WEBHOOK_URL: SMS codes cannot be sent");
      const router = channelRouter({ email: smtp, ...(webhook && { sms: webhook }) });
      return { sender: router, notices: router, close: () => smtp.close() };
    }
  }
}
