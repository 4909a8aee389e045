import { createHmac } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { EventSender } from "../domain/events.js";
import { DeliveryFailure } from "../domain/ports.js";
import type { Logger } from "../logger.js";

/** The signing key of a Standard Webhooks secret `whsec_<base64>`; `undefined` when it is not one. */
export function webhookSigningKey(secret: string): Buffer | undefined {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (match === null) return undefined;
  const key = Buffer.from(match[1]!, "base64");
  // Buffer.from ignores what is not base64: the round trip proves the whole text was.
  return key.length > 0 && key.toString("base64").replace(/=+$/, "") === match[1]!.replace(/=+$/, "") ? key : undefined;
}

/**
 * The Standard Webhooks headers of one delivery: `webhook-id`, `webhook-timestamp` (seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
 */
export function standardWebhookHeaders(
  key: Buffer,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const signature = createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestampSeconds), "webhook-signature": `v1,${signature}` };
}

/**
 * Delivers `user.updated` events as Standard Webhooks POSTs: any 2xx within `timeoutMs` is delivered, anything else
 * (redirects included) fails. Connections are kept alive: the dispatcher posts many events in a row. The timestamp
 * is the real time of the attempt (receivers compare it with their own clocks to refuse replays).
 */
export function eventsWebhookSender({
  url,
  secret,
  timeoutMs,
  now = () => Date.now(),
}: {
  url: string;
  secret: string;
  timeoutMs: number;
  now?: () => number;
}): EventSender & { close(): void } {
  const key = webhookSigningKey(secret);
  if (key === undefined) throw new Error("EVENTS_WEBHOOK_SECRET is not a whsec_<base64> secret");
  const target = new URL(url);
  const https = target.protocol === "https:";
  const agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const request = https ? httpsRequest : httpRequest;
  return {
    async sendEvent({ id, body }) {
      const headers = standardWebhookHeaders(key, id, Math.floor(now() / 1000), body);
      const status = await new Promise<number>((resolve, reject) => {
        const outgoing = request(
          target,
          {
            method: "POST",
            agent,
            headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
          },
          (response) => {
            response.resume();
            response.once("end", () => {
              clearTimeout(timer);
              resolve(response.statusCode ?? 0);
            });
            response.once("error", reject);
          },
        );
        // One plain timer per delivery: cheaper than an AbortSignal.timeout, whose timer outlives the request.
        const timer = setTimeout(
          () => outgoing.destroy(Object.assign(new Error("timeout"), { name: "TimeoutError" })),
          timeoutMs,
        );
        outgoing.once("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        outgoing.end(body);
      }).catch((error: unknown) => {
        const name = (error as Error).name;
        const code = (error as { code?: unknown }).code;
        throw new DeliveryFailure(`events webhook unreachable: ${typeof code === "string" ? code : name}`, true, {
          cause: error,
        });
      });
      if (status < 200 || status > 299) throw new DeliveryFailure(`events webhook answered ${status}`, true);
    },
    close: () => agent.destroy(),
  };
}

/**
 * Without `EVENTS_WEBHOOK_URL` events are delivered to the log: one line per event with its id, subject, version and
 * changed attributes (never the attribute values).
 */
export function logEventSender(log: Logger): EventSender {
  return {
    async sendEvent({ id, body }) {
      const { type, data } = JSON.parse(body) as {
        type: string;
        data: { sub: string; version: number; changed: string[] };
      };
      log.info({ event: { id, type, sub: data.sub, version: data.version, changed: data.changed } }, "change event");
    },
  };
}
