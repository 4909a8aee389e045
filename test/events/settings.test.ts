import { describe, expect, it } from "vitest";
import { listenUrl } from "../../src/app.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { eventsWebhookSender, webhookSigningKey } from "../../src/delivery/events-webhook.js";
import { DeliveryFailure } from "../../src/domain/ports.js";
import { EVENTS_SECRET, startEventsReceiver } from "../support/receivers.js";

// The events configuration (SPEC 5.4) and the events webhook's failures.

describe("events configuration", () => {
  it("has the defaults of SPEC 5.4", () => {
    const config = loadConfig({});
    expect(config.events).toEqual({ webhookUrl: undefined, webhookSecret: undefined, webhookTimeoutMs: 5000 });
    expect(config.revertTtlSeconds).toBe(604_800);
    expect(config.publicUrl).toBeUndefined();
    expect(listenUrl(config)).toBe("http://127.0.0.1:4000");
    expect(listenUrl({ host: "::1", port: 8080 })).toBe("http://[::1]:8080");
  });

  it("reads the webhook, its timeout, PUBLIC_URL and REVERT_TTL_SECONDS", () => {
    const config = loadConfig({
      EVENTS_WEBHOOK_URL: "https://crm.example.com/hooks",
      EVENTS_WEBHOOK_SECRET: EVENTS_SECRET,
      EVENTS_WEBHOOK_TIMEOUT_MS: "2500",
      PUBLIC_URL: "https://accounts.example.com",
      REVERT_TTL_SECONDS: "86400",
    });
    expect(config.events).toEqual({
      webhookUrl: "https://crm.example.com/hooks",
      webhookSecret: EVENTS_SECRET,
      webhookTimeoutMs: 2500,
    });
    expect([config.publicUrl, config.revertTtlSeconds]).toEqual(["https://accounts.example.com", 86400]);
  });

  it.each([["not-a-whsec-secret"], ["whsec_"], ["whsec_not base64!"]])(
    "refuses EVENTS_WEBHOOK_SECRET=%s with a message naming the variable",
    (secret) => {
      expect(() =>
        loadConfig({ EVENTS_WEBHOOK_URL: "https://crm.example.com/hooks", EVENTS_WEBHOOK_SECRET: secret }),
      ).toThrow(
        new ConfigError(
          "EVENTS_WEBHOOK_SECRET must be a Standard Webhooks secret: whsec_ followed by the base64 of the key (e.g. whsec_$(openssl rand -base64 32))",
        ),
      );
    },
  );

  it("wants the URL and the secret together, and valid URLs and numbers", () => {
    expect(() => loadConfig({ EVENTS_WEBHOOK_URL: "https://crm.example.com/hooks" })).toThrow(
      "EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET go together",
    );
    expect(() => loadConfig({ EVENTS_WEBHOOK_SECRET: EVENTS_SECRET })).toThrow(
      "EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET go together",
    );
    expect(() => loadConfig({ PUBLIC_URL: "accounts" })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ REVERT_TTL_SECONDS: "0" })).toThrow(/REVERT_TTL_SECONDS/);
    expect(() => loadConfig({ EVENTS_WEBHOOK_TIMEOUT_MS: "soon" })).toThrow(/EVENTS_WEBHOOK_TIMEOUT_MS/);
  });

  it("decodes the signing key of a whsec_ secret", () => {
    expect(webhookSigningKey(`whsec_${Buffer.from("key bytes").toString("base64")}`)).toEqual(Buffer.from("key bytes"));
    expect(webhookSigningKey("whsec_====")).toBeUndefined();
  });
});

describe("events webhook failures", () => {
  const event = { id: "00000000-0000-4000-8000-000000000001", body: '{"type":"user.updated"}' };

  it("gives up on a receiver that does not answer within the timeout", async () => {
    const receiver = await startEventsReceiver(() => "hang");
    const sender = eventsWebhookSender({ url: receiver.url, secret: EVENTS_SECRET, timeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(sender.sendEvent(event)).rejects.toThrow(
        new DeliveryFailure("events webhook unreachable: TimeoutError", true),
      );
      expect(performance.now() - started).toBeLessThan(2000);
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]!.verified).toEqual({ type: "user.updated" });
    } finally {
      sender.close();
      await receiver.close();
    }
  });

  it("fails on a non-2xx answer, redirects included, and when nothing listens", async () => {
    for (const status of [301, 404, 500]) {
      const receiver = await startEventsReceiver(() => status);
      const sender = eventsWebhookSender({ url: receiver.url, secret: EVENTS_SECRET, timeoutMs: 2000 });
      try {
        await expect(sender.sendEvent(event)).rejects.toThrow(`events webhook answered ${status}`);
      } finally {
        sender.close();
        await receiver.close();
      }
    }
    const nowhere = eventsWebhookSender({ url: "http://127.0.0.1:1/events", secret: EVENTS_SECRET, timeoutMs: 1000 });
    await expect(nowhere.sendEvent(event)).rejects.toThrow("events webhook unreachable: ECONNREFUSED");
  });

  it("signs with a key the reference implementation verifies, and a wrong key does not verify", async () => {
    const other = `whsec_${Buffer.from("another key entirely").toString("base64")}`;
    const receiver = await startEventsReceiver(() => 204);
    const sender = eventsWebhookSender({ url: receiver.url, secret: other, timeoutMs: 2000 });
    try {
      await expect(sender.sendEvent(event)).rejects.toThrow("events webhook answered 401");
      expect(receiver.received[0]!.verified).toBeUndefined();
    } finally {
      sender.close();
      await receiver.close();
    }
  });
});
