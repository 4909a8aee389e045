import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logSender, smtpSender, webhookSender } from "../../src/delivery/otp-senders.js";
import { DeliveryFailure } from "../../src/domain/ports.js";
import { createLogger } from "../../src/logger.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { createTestGateway, jsonRequest } from "../support/gateway.js";
import { type ReceivedMail, startSmtpInbox } from "../support/receivers.js";

const SECRET = "webhook-shared-secret";

interface Received {
  body: string;
  signature: string | undefined;
  contentType: string | undefined;
}

/** A real HTTP receiver; `answer` decides the status (or never answers). */
async function startReceiver(answer: () => number | "hang") {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({
        body,
        signature: req.headers["x-signature"] as string | undefined,
        contentType: req.headers["content-type"],
      });
      const status = answer();
      if (status !== "hang") res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/otp`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const verifySignature = (body: string, header: string | undefined) => {
  const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`);
  const actual = Buffer.from(header ?? "");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
};

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.close());

describe("webhook delivery", () => {
  it("posts the signed JSON of SPEC 4, and the code it carries updates the phone number", async () => {
    const receiver = await startReceiver(() => 204);
    const gw = await createTestGateway({
      database,
      sender: webhookSender({ url: receiver.url, secret: SECRET, timeoutMs: 2000 }),
    });
    try {
      const sub = "webhook-user";
      const token = await gw.token(sub);
      const sent = await gw.fetch(
        "/otp/send",
        jsonRequest("POST", token, { usage: "update_userinfo", phone_number: "+86 186 0000 0001" }),
      );
      expect(sent.status).toBe(200);
      const { otp_token } = (await sent.json()) as { otp_token: string };

      expect(receiver.received).toHaveLength(1);
      const delivery = receiver.received[0]!;
      expect(delivery.contentType).toBe("application/json");
      expect(verifySignature(delivery.body, delivery.signature)).toBe(true);
      const payload = JSON.parse(delivery.body) as Record<string, unknown>;
      expect(Object.keys(payload)).toEqual(["type", "channel", "to", "code", "usage", "expires_at"]);
      expect(payload).toMatchObject({
        type: "otp",
        channel: "sms",
        to: "18600000001",
        usage: "update_userinfo",
        expires_at: Math.floor(gw.clock.now().getTime() / 1000) + 60,
      });
      expect(payload.code).toMatch(/^[0-9]{6}$/);

      const patched = await gw.fetch(
        "/userinfo",
        jsonRequest("PATCH", token, {
          phone_number: "18600000001",
          phone_number_otp_token: otp_token,
          phone_number_otp: payload.code,
        }),
      );
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ phone_number: "18600000001", phone_number_verified: true });
    } finally {
      await gw.close();
      await receiver.close();
    }
  });

  it.each([[500], [404], [302]])("treats a %i answer as a failed delivery: 503 and no token", async (status) => {
    const receiver = await startReceiver(() => status);
    const gw = await createTestGateway({
      database,
      sender: webhookSender({ url: receiver.url, secret: SECRET, timeoutMs: 2000 }),
    });
    try {
      const token = await gw.token(`failing-${status}`);
      const response = await gw.fetch(
        "/otp/send",
        jsonRequest("POST", token, { usage: "update_userinfo", email: `f${status}@example.com` }),
      );
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: "temporarily_unavailable",
        error_description: "Failed to send OTP. Please try again later.",
      });
      expect(await gw.prisma.otpChallenge.count({ where: { target: `f${status}@example.com` } })).toBe(0);
    } finally {
      await gw.close();
      await receiver.close();
    }
  });

  it("gives up on a receiver that never answers after the configured timeout", async () => {
    const receiver = await startReceiver(() => "hang");
    const sender = webhookSender({ url: receiver.url, secret: SECRET, timeoutMs: 300 });
    try {
      await expect(
        sender.send({ channel: "email", to: "a@b.c", code: "123456", usage: "login", expiresAt: new Date() }),
      ).rejects.toThrow("webhook unreachable: TimeoutError");
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it("tells whether a failed delivery may have reached the provider (and so counts against the limits)", async () => {
    const message = {
      channel: "sms",
      to: "13800138000",
      code: "123456",
      usage: "login",
      expiresAt: new Date(),
    } as const;
    const failureOf = async (url: string, timeoutMs = 2000) => {
      try {
        await webhookSender({ url, secret: SECRET, timeoutMs }).send(message);
      } catch (error) {
        expect(error).toBeInstanceOf(DeliveryFailure);
        return (error as DeliveryFailure).mayHaveBeenSent;
      }
      throw new Error("the delivery succeeded");
    };
    for (const [answer, mayHaveBeenSent] of [
      [500, true],
      [503, true],
      [404, false],
      [400, false],
      ["hang", true],
    ] as const) {
      const receiver = await startReceiver(() => answer);
      try {
        expect([answer, await failureOf(receiver.url, 300)]).toEqual([answer, mayHaveBeenSent]);
      } finally {
        await receiver.close();
      }
    }
    expect(await failureOf("http://127.0.0.1:1/otp")).toBe(false);
  });

  it("notifies the previous address of a replaced email and phone number: the signed JSON of SPEC 5.4", async () => {
    const receiver = await startReceiver(() => 204);
    const gw = await createTestGateway({
      database,
      noticeSender: webhookSender({ url: receiver.url, secret: SECRET, timeoutMs: 2000 }),
      env: { PUBLIC_URL: "https://accounts.example.com/", REVERT_TTL_SECONDS: "3600" },
    });
    try {
      const sub = "notice-webhook-user";
      await gw.store.users.create({
        sub,
        email: "old.address@example.com",
        phoneNumber: "13800000042",
        createdAt: gw.clock.now(),
      });
      const email = await gw.otp("email", "new.address@example.com", { sub });
      const phone = await gw.otp("sms", "13900000042", { sub });
      const patched = await gw.fetch(
        "/userinfo",
        jsonRequest("PATCH", await gw.token(sub), {
          email: "new.address@example.com",
          email_otp_token: email.token,
          email_otp: email.code,
          phone_number: "13900000042",
          phone_number_otp_token: phone.token,
          phone_number_otp: phone.code,
        }),
      );
      expect(patched.status).toBe(200);
      expect(receiver.received).toHaveLength(0); // sent by the dispatcher, after the answer
      while ((await gw.app.outbox.runOnce()) > 0);

      expect(receiver.received).toHaveLength(2);
      const expiresAt = Math.floor(gw.clock.now().getTime() / 1000) + 3600;
      const bodies = receiver.received.map((r) => {
        expect(verifySignature(r.body, r.signature)).toBe(true);
        expect(r.contentType).toBe("application/json");
        return JSON.parse(r.body) as Record<string, unknown>;
      });
      const byAttribute = Object.fromEntries(bodies.map((b) => [String(b.attribute), b]));
      const tokenOf = (url: unknown) => new URL(String(url)).searchParams.get("token") ?? "";
      expect(Object.keys(byAttribute.email!)).toEqual([
        "type",
        "channel",
        "to",
        "attribute",
        "new_value",
        "revert_url",
        "expires_at",
      ]);
      expect(byAttribute.email).toEqual({
        type: "identifier_changed",
        channel: "email",
        to: "old.address@example.com",
        attribute: "email",
        new_value: "n***@example.com",
        revert_url: `https://accounts.example.com/userinfo/revert?token=${tokenOf(byAttribute.email?.revert_url)}`,
        expires_at: expiresAt,
      });
      expect(byAttribute.phone_number).toEqual({
        type: "identifier_changed",
        channel: "sms",
        to: "13800000042",
        attribute: "phone_number",
        new_value: "139****0042",
        revert_url: `https://accounts.example.com/userinfo/revert?token=${tokenOf(byAttribute.phone_number?.revert_url)}`,
        expires_at: expiresAt,
      });
      expect(tokenOf(byAttribute.email?.revert_url)).toMatch(/.{20,}/);
      // Once delivered, the outbox no longer holds the token.
      expect(await gw.prisma.outboxEvent.count({ where: { sub, stream: "notices", secret: { not: null } } })).toBe(0);
      expect(await gw.prisma.outboxEvent.count({ where: { sub, stream: "notices", status: "delivered" } })).toBe(2);
    } finally {
      await gw.close();
      await receiver.close();
    }
  });

  it("fails when nothing listens", async () => {
    const sender = webhookSender({ url: "http://127.0.0.1:1/otp", secret: SECRET, timeoutMs: 1000 });
    await expect(
      sender.send({ channel: "sms", to: "13800138000", code: "1", usage: "login", expiresAt: new Date() }),
    ).rejects.toThrow(/webhook unreachable/);
  });
});

describe("SMTP delivery", () => {
  let smtp: Awaited<ReturnType<typeof startSmtpInbox>>;
  let inbox: ReceivedMail[];

  beforeAll(async () => {
    smtp = await startSmtpInbox();
    inbox = smtp.inbox;
  });
  afterAll(() => smtp?.close());

  it("mails the code, which then proves the new email", async () => {
    const sender = smtpSender({
      url: smtp.url,
      from: "Accounts <no-reply@example.com>",
      timeoutMs: 5000,
    });
    const gw = await createTestGateway({ database, sender });
    try {
      const sub = "smtp-user";
      const token = await gw.token(sub);
      const sent = await gw.fetch(
        "/otp/send",
        jsonRequest("POST", token, { usage: "update_userinfo", email: "Mail.User@Example.com" }),
      );
      expect(sent.status).toBe(200);
      const { otp_token } = (await sent.json()) as { otp_token: string };

      expect(inbox).toHaveLength(1);
      // The envelope's domain is lower-cased on the way (domains are case-insensitive); the local part is kept.
      expect(inbox[0]!.to).toEqual(["Mail.User@example.com"]);
      expect(inbox[0]!.raw).toContain("From: Accounts <no-reply@example.com>");
      const code = /Your verification code is ([0-9]{6})\./.exec(inbox[0]!.raw)?.[1];
      expect(code).toMatch(/^[0-9]{6}$/);

      const patched = await gw.fetch(
        "/userinfo",
        jsonRequest("PATCH", token, { email: "Mail.User@Example.com", email_otp_token: otp_token, email_otp: code }),
      );
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ sub, email: "Mail.User@Example.com", email_verified: true });
    } finally {
      sender.close();
      await gw.close();
    }
  });

  it("mails the previous address a notice with the revert link, which opens the revert page", async () => {
    const sender = smtpSender({
      url: smtp.url,
      from: "Accounts <no-reply@example.com>",
      timeoutMs: 5000,
    });
    const gw = await createTestGateway({ database, noticeSender: sender, env: { PUBLIC_URL: "http://bff.test" } });
    try {
      const sub = "smtp-notice-user";
      await gw.store.users.create({ sub, email: "first@example.com", createdAt: gw.clock.now() });
      const otp = await gw.otp("email", "second@example.com", { sub });
      const patched = await gw.fetch(
        "/userinfo",
        jsonRequest("PATCH", await gw.token(sub), {
          email: "second@example.com",
          email_otp_token: otp.token,
          email_otp: otp.code,
        }),
      );
      expect(patched.status).toBe(200);
      inbox.length = 0;
      while ((await gw.app.outbox.runOnce()) > 0); // the notice, and the user.updated events (to the log)
      expect(inbox).toHaveLength(1);
      expect(inbox[0]!.to).toEqual(["first@example.com"]);
      // Quoted-printable: soft line breaks and =XX escapes.
      const raw = inbox[0]!.raw
        .replace(/=\r?\n/g, "")
        .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
      expect(raw).toContain("Subject: The email address of your account was changed");
      expect(raw).toContain("was changed from this address to s***@example.com.");
      const link = /http:\/\/bff\.test\/userinfo\/revert\?token=[A-Za-z0-9_%-]+/.exec(raw)?.[0];
      expect(link).toBeDefined();
      const page = await gw.fetch(new URL(link!).pathname + new URL(link!).search);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("s***@example.com");
    } finally {
      sender.close();
      await gw.close();
    }
  });

  it("fails cleanly when the SMTP server is unreachable", async () => {
    const sender = smtpSender({ url: "smtp://127.0.0.1:1", from: "no-reply@example.com", timeoutMs: 1000 });
    await expect(
      sender.send({ channel: "email", to: "a@b.c", code: "123456", usage: "login", expiresAt: new Date() }),
    ).rejects.toThrow(/SMTP delivery failed/);
    sender.close();
  });
});

describe("log delivery", () => {
  it("writes the code to the log (development only)", async () => {
    let output = "";
    const log = createLogger(
      "info",
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          output += chunk.toString();
          done();
        },
      }),
    );
    await logSender(log).send({
      channel: "sms",
      to: "13800138000",
      code: "424242",
      usage: "login",
      expiresAt: new Date("2026-11-28T08:01:00Z"),
    });
    const line = JSON.parse(output) as { msg: string; otp: Record<string, string> };
    expect(line.msg).toBe("OTP code (development delivery)");
    expect(line.otp).toEqual({
      channel: "sms",
      to: "13800138000",
      code: "424242",
      usage: "login",
      expires_at: "2026-11-28T08:01:00.000Z",
    });
  });
  it("writes a notice and its revert link to the log (development only)", async () => {
    let output = "";
    const log = createLogger(
      "info",
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          output += chunk.toString();
          done();
        },
      }),
    );
    await logSender(log).sendNotice({
      channel: "email",
      to: "old@example.com",
      attribute: "email",
      newValue: "n***@example.com",
      revertUrl: "http://127.0.0.1:4000/userinfo/revert?token=abc",
      expiresAt: new Date("2026-12-05T08:00:00Z"),
    });
    const line = JSON.parse(output) as { msg: string; notice: Record<string, string> };
    expect(line.msg).toBe("identifier change notice (development delivery)");
    expect(line.notice).toEqual({
      channel: "email",
      to: "old@example.com",
      attribute: "email",
      new_value: "n***@example.com",
      revert_url: "http://127.0.0.1:4000/userinfo/revert?token=abc",
      expires_at: "2026-12-05T08:00:00.000Z",
    });
  });
});
