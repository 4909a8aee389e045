import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { Webhook } from "standardwebhooks";

/** A Standard Webhooks secret for tests. */
export const EVENTS_SECRET = `whsec_${Buffer.from("events-receiver-test-key-0123456789").toString("base64")}`;

/** One POST the events receiver got. */
export interface ReceivedEvent {
  readonly id: string;
  readonly timestamp: string;
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed body when the signature verified (with the `standardwebhooks` package), else `undefined`. */
  readonly verified: Record<string, unknown> | undefined;
}

/**
 * A real HTTP receiver of change events that verifies each Standard Webhooks signature with the reference
 * implementation (`standardwebhooks`), answers `answer()` (or never, for "hang"), and keeps what it received.
 * Only verified deliveries answered 2xx are `accepted`.
 */
export async function startEventsReceiver(answer: () => number | "hang" = () => 204, secret = EVENTS_SECRET, port = 0) {
  const webhook = new Webhook(secret);
  const received: ReceivedEvent[] = [];
  const accepted: ReceivedEvent[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      let verified: Record<string, unknown> | undefined;
      try {
        verified = webhook.verify(body, req.headers as Record<string, string>) as Record<string, unknown>;
      } catch {
        verified = undefined;
      }
      const event = {
        id: String(req.headers["webhook-id"]),
        timestamp: String(req.headers["webhook-timestamp"]),
        body,
        headers: req.headers,
        verified,
      };
      received.push(event);
      if (verified === undefined) {
        res.writeHead(401).end();
        return;
      }
      const status = answer();
      if (status === "hang") return;
      if (status >= 200 && status < 300) accepted.push(event);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    received,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A mail the SMTP inbox received: its envelope recipients and the raw message. */
export interface ReceivedMail {
  readonly to: string[];
  readonly raw: string;
}

/** A real SMTP server on loopback (no TLS, no authentication) that keeps every message it receives. */
export async function startSmtpInbox(): Promise<{ url: string; inbox: ReceivedMail[]; close(): Promise<void> }> {
  const inbox: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      let raw = "";
      stream.on("data", (chunk: Buffer) => (raw += chunk.toString()));
      stream.on("end", () => {
        inbox.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  return {
    url: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
    inbox,
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}
