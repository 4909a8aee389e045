import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashClientSecret } from "../../src/auth/client-secrets.js";
import { DeliveryFailure } from "../../src/domain/ports.js";
import { createTestGateway, jsonRequest, type TestGateway } from "../support/gateway.js";

let gw: TestGateway;
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;
const phoneNumber = () => `139${String(10_000_000 + ++n).slice(-8)}`;

const basic = (clientId: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`;

async function send(
  authorization: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
  target = gw,
) {
  const response = await target.fetch("/otp/send", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(authorization === undefined ? {} : { authorization }),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, string>,
  };
}

async function patchAs(sub: string, body: unknown, clientId = "web") {
  const response = await gw.fetch("/userinfo", jsonRequest("PATCH", await gw.token(sub, { clientId }), body));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const WEB = basic("web", "web-secret");

beforeAll(async () => {
  gw = await createTestGateway();
  await gw.store.applications.save({
    clientId: "web",
    secretHash: await hashClientSecret("web-secret"),
    claims: ["email", "email_verified", "phone_number", "phone_number_verified"],
  });
  await gw.store.applications.save({
    clientId: "my app:1",
    secretHash: await hashClientSecret("p@ss word+x:y"),
    claims: [],
  });
  await gw.store.applications.save({ clientId: "public", secretHash: null, claims: [] });
});
afterAll(() => gw?.close());

describe("POST /otp/send with application credentials", () => {
  it("sends a 6-digit code, returns an opaque token, and the token updates the email", async () => {
    const email = `${unique("Alice")}@Example.com`;
    const result = await send(WEB, { usage: "update_userinfo", email });
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toBe("application/json");
    expect(Object.keys(result.body)).toEqual(["otp_token"]);
    expect(result.body.otp_token).toMatch(/^test-token-/);
    const message = gw.delivered.at(-1)!;
    expect(message).toMatchObject({ channel: "email", to: email, usage: "update_userinfo" });
    expect(message.code).toMatch(/^[0-9]{6}$/);
    expect(message.expiresAt.getTime()).toBe(gw.clock.now().getTime() + 60_000);

    const stored = await gw.prisma.otpChallenge.findFirst({ where: { target: email.toLowerCase() } });
    expect(stored).toMatchObject({ clientId: "web", userSub: null, usage: "update_userinfo", requester: "client:web" });
    expect(stored?.tokenHash).not.toContain(result.body.otp_token);
    expect(stored?.codeHash).not.toContain(message.code);

    const sub = unique("user");
    const patched = await patchAs(sub, { email, email_otp_token: result.body.otp_token, email_otp: message.code });
    expect(patched).toEqual({ status: 200, body: { sub, email, email_verified: true } });
  });

  it("decodes url-encoded credentials", async () => {
    const result = await send(basic("my app:1", "p@ss word+x:y"), { usage: "login", phone_number: phoneNumber() });
    expect(result.status).toBe(200);
  });

  it.each([
    ["a wrong secret", basic("web", "wrong")],
    ["an unknown client", basic("nobody", "web-secret")],
    ["a client without a secret", basic("public", "")],
    ["undecodable credentials", "Basic !!!"],
    ["credentials without a colon", `Basic ${Buffer.from("web").toString("base64")}`],
    ["no Authorization header", undefined],
    ["another scheme", "Digest username=web"],
  ])("answers 401 invalid_client for %s", async (_label, authorization) => {
    const result = await send(authorization, { email: `${unique("x")}@example.com` });
    expect(result.status).toBe(401);
    expect(result.headers.get("www-authenticate")).toBe("Basic");
    expect(result.body).toEqual({ error: "invalid_client" });
  });

  it.each([
    ["not JSON", "{", "The request body is not valid JSON."],
    ["an array", [], "The request body must be a JSON object."],
    [
      "both targets",
      { email: "a@b.c", phone_number: "13800138000" },
      "Exactly one of phone_number and email is required.",
    ],
    ["no target", { usage: "login" }, "Exactly one of phone_number and email is required."],
    [
      "an unknown usage",
      { usage: "steal", email: "a@b.c" },
      "usage must be one of update_userinfo, login, signup, reset_password.",
    ],
    [
      "a non-string usage",
      { usage: 1, email: "a@b.c" },
      "usage must be one of update_userinfo, login, signup, reset_password.",
    ],
  ])("answers 400 invalid_request for %s", async (_label, body, description) => {
    const result = await send(WEB, body);
    expect(result.status).toBe(400);
    expect(result.headers.get("content-type")).toBe("application/json;charset=UTF-8");
    expect(result.body).toEqual({ error: "invalid_request", error_description: description });
  });

  it.each([
    [{ phone_number: "12345" }, "malformed_phone_number"],
    [{ phone_number: 13800138000 }, "malformed_phone_number"],
    [{ email: "no-at-sign" }, "malformed_email"],
    [{ email: null }, "malformed_email"],
  ])("answers %j with %s", async (body, error) => {
    expect(await send(WEB, body)).toMatchObject({ status: 400, body: { error } });
  });

  it("normalizes the phone number it sends to and binds the challenge to", async () => {
    const phone = phoneNumber();
    const result = await send(WEB, {
      usage: "update_userinfo",
      phone_number: `+86 ${phone.slice(0, 3)}-${phone.slice(3)}`,
    });
    expect(result.status).toBe(200);
    expect(gw.delivered.at(-1)).toMatchObject({ channel: "sms", to: phone });
    const sub = unique("user");
    const patched = await patchAs(sub, {
      phone_number: phone,
      phone_number_otp_token: result.body.otp_token,
      phone_number_otp: gw.delivered.at(-1)!.code,
    });
    expect(patched.body).toMatchObject({ phone_number: phone, phone_number_verified: true });
  });

  it("defaults the usage to login, which PATCH /userinfo does not accept", async () => {
    const email = `${unique("login")}@example.com`;
    const result = await send(WEB, { email });
    expect(result.status).toBe(200);
    expect((await gw.prisma.otpChallenge.findFirst({ where: { target: email } }))?.usage).toBe("login");
    const patched = await patchAs(unique("user"), {
      email,
      email_otp_token: result.body.otp_token,
      email_otp: gw.delivered.at(-1)!.code,
    });
    expect(patched.body).toEqual({ error: "bad_email_otp_token" });
  });
});

describe("POST /otp/send with a user access token", () => {
  it("binds the challenge to the user and the token's application", async () => {
    const sub = unique("user");
    const email = `${sub}@example.com`;
    const token = await gw.token(sub);
    const result = await send(`Bearer ${token}`, { usage: "update_userinfo", email });
    expect(result.status).toBe(200);
    expect(await gw.prisma.otpChallenge.findFirst({ where: { target: email } })).toMatchObject({
      userSub: sub,
      clientId: "web",
      requester: `user:${sub}`,
    });
    const code = gw.delivered.at(-1)!.code;
    const stranger = await patchAs(unique("other"), { email, email_otp_token: result.body.otp_token, email_otp: code });
    expect(stranger.body).toEqual({ error: "bad_email_otp_token" });
    expect((await patchAs(sub, { email, email_otp_token: result.body.otp_token, email_otp: code })).status).toBe(200);
  });

  it("requires usage update_userinfo", async () => {
    const token = await gw.token(unique("user"));
    for (const body of [{ email: "a@example.com" }, { usage: "login", email: "a@example.com" }]) {
      expect(await send(`Bearer ${token}`, body)).toMatchObject({
        status: 400,
        body: {
          error: "invalid_request",
          error_description: "With a user access token, usage must be update_userinfo.",
        },
      });
    }
  });

  it("answers bearer failures as SPEC 1.4 does", async () => {
    const noOpenid = await gw.token(unique("user"), { scope: "profile" });
    const result = await send(`Bearer ${noOpenid}`, { usage: "update_userinfo", email: "a@example.com" });
    expect(result.status).toBe(403);
    expect(result.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    const garbage = await send("Bearer garbage", { usage: "update_userinfo", email: "a@example.com" });
    expect(garbage.status).toBe(401);
  });
});

describe("superseding", () => {
  it("retires the same requester's earlier token and leaves other requesters' tokens valid", async () => {
    const sub = unique("user");
    const email = `${sub}@example.com`;
    const userToken = `Bearer ${await gw.token(sub)}`;
    const first = await send(userToken, { usage: "update_userinfo", email });
    const firstCode = gw.delivered.at(-1)!.code;
    gw.clock.advance(30);
    const byClient = await send(WEB, { usage: "update_userinfo", email });
    const clientCode = gw.delivered.at(-1)!.code;
    gw.clock.advance(30);
    const second = await send(userToken, { usage: "update_userinfo", email });
    const secondCode = gw.delivered.at(-1)!.code;
    expect([first.status, byClient.status, second.status]).toEqual([200, 200, 200]);

    expect((await patchAs(sub, { email, email_otp_token: first.body.otp_token, email_otp: firstCode })).body).toEqual({
      error: "bad_email_otp_token",
    });
    // The application's token (another requester) survived the user's second send.
    expect(
      (await patchAs(sub, { email, email_otp_token: byClient.body.otp_token, email_otp: clientCode })).status,
    ).toBe(200);
    expect((await patchAs(sub, { email, email_otp_token: second.body.otp_token, email_otp: secondCode })).status).toBe(
      200,
    );
  });
});

describe("rate limits", () => {
  it("allows one send per target per 30 s, with Retry-After", async () => {
    const phone = phoneNumber();
    expect((await send(WEB, { phone_number: phone })).status).toBe(200);
    const limited = await send(WEB, { phone_number: phone });
    expect(limited.status).toBe(400);
    expect(limited.headers.get("retry-after")).toBe("30");
    expect(limited.body).toEqual({
      error: "sms_rate_limit_exceeded",
      error_description: "SMS rate limit exceeded for same phone number",
    });
    gw.clock.advance(12);
    expect(
      (
        await send(`Bearer ${await gw.token(unique("u"))}`, { usage: "update_userinfo", phone_number: `+86${phone}` })
      ).headers.get("retry-after"),
    ).toBe("18");
    gw.clock.advance(18);
    expect((await send(WEB, { phone_number: phone })).status).toBe(200);
  });

  it("answers email_rate_limit_exceeded for email targets", async () => {
    const email = `${unique("limited")}@example.com`;
    await send(WEB, { email });
    const limited = await send(WEB, { email: email.toUpperCase() });
    expect(limited.status).toBe(400);
    expect(limited.body).toEqual({
      error: "email_rate_limit_exceeded",
      error_description: "Email rate limit exceeded for same email",
    });
  });

  it("counts failed requests not at all, and counts each limit across gateways sharing the database", async () => {
    const other = await createTestGateway({ database: gw.database, clock: gw.clock });
    try {
      await other.store.applications.save({
        clientId: "web",
        secretHash: await hashClientSecret("web-secret"),
        claims: [],
      });
      const email = `${unique("shared")}@example.com`;
      expect((await send(WEB, { email: "bad" })).status).toBe(400);
      expect((await send(WEB, { email }, {}, other)).status).toBe(200);
      const limited = await send(WEB, { email });
      expect(limited.status).toBe(400);
      expect(limited.body.error).toBe("email_rate_limit_exceeded");
    } finally {
      await other.close();
    }
  });

  describe("with configured ceilings", () => {
    let strict: TestGateway;
    beforeAll(async () => {
      strict = await createTestGateway({
        database: gw.database,
        clock: gw.clock,
        env: {
          OTP_TARGET_INTERVAL_SECONDS: "1",
          OTP_TARGET_DAILY_LIMIT: "3",
          OTP_CLIENT_LIMIT: "5",
          OTP_IP_LIMIT: "4",
          OTP_WINDOW_SECONDS: "600",
          TRUST_PROXY: "true",
        },
      });
      // Earlier tests' sends by the same client fall out of the 600 s window.
      strict.clock.advance(700);
    });
    afterAll(() => strict?.close());

    it("allows at most the daily number of sends per target", async () => {
      const email = `${unique("daily")}@example.com`;
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await send(WEB, { email }, { "x-forwarded-for": `198.51.100.${n}` }, strict)).status);
        strict.clock.advance(2);
      }
      expect(statuses).toEqual([200, 200, 200, 400]);
      const limited = await send(WEB, { email }, { "x-forwarded-for": `198.51.100.${n}` }, strict);
      expect(limited.headers.get("retry-after")).toBe(String(86_400 - 8));
    });

    it("applies a per-address ceiling and a per-client ceiling", async () => {
      const from = (ip: string) => ({ "x-forwarded-for": `${ip}, 10.0.0.1` });
      strict.clock.advance(700);
      const ipStatuses = [];
      for (let i = 0; i < 5; i++)
        ipStatuses.push(
          (await send(WEB, { email: `${unique("ip")}@example.com` }, from("203.0.113.7"), strict)).status,
        );
      expect(ipStatuses).toEqual([200, 200, 200, 200, 400]);
      const limited = await send(WEB, { email: `${unique("ip")}@example.com` }, from("203.0.113.7"), strict);
      expect(limited.body).toEqual({
        error: "email_rate_limit_exceeded",
        error_description: "Email rate limit exceeded for this network address",
      });
      expect(limited.headers.get("retry-after")).toBe("600");
      // The client has 4 sends in this window; the fifth from another address is its last.
      expect((await send(WEB, { email: `${unique("c")}@example.com` }, from("203.0.113.8"), strict)).status).toBe(200);
      const clientLimited = await send(WEB, { email: `${unique("c")}@example.com` }, from("203.0.113.9"), strict);
      expect(clientLimited.body).toEqual({
        error: "email_rate_limit_exceeded",
        error_description: "Email rate limit exceeded for this client",
      });
    });
  });
});

describe("delivery failure", () => {
  /** A gateway on the shared database whose sender fails with `failure` while `state.fail` is set. */
  async function failingGateway(failure: () => Error) {
    const state = { fail: true };
    const gateway = await createTestGateway({
      database: gw.database,
      clock: gw.clock,
      sender: {
        async send() {
          if (state.fail) throw failure();
        },
      },
    });
    return { gateway, state };
  }

  it("answers 503 and issues no token; a delivery refused before sending counts nothing", async () => {
    const { gateway, state } = await failingGateway(() => new DeliveryFailure("provider unreachable", false));
    try {
      const email = `${unique("down")}@example.com`;
      const failed = await send(WEB, { email }, {}, gateway);
      expect(failed.status).toBe(503);
      expect(failed.body).toEqual({
        error: "temporarily_unavailable",
        error_description: "Failed to send OTP. Please try again later.",
      });
      expect(await gateway.prisma.otpChallenge.count({ where: { target: email } })).toBe(0);
      expect(await gateway.prisma.rateLimitEvent.count({ where: { key: `target:email:${email}` } })).toBe(0);
      state.fail = false;
      expect((await send(WEB, { email }, {}, gateway)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it.each([
    ["a timeout or 5xx (the provider may have sent it)", () => new DeliveryFailure("webhook answered 502", true)],
    ["an unclassified error", () => new Error("socket hang up")],
  ])("counts %s against every limit", async (_case, failure) => {
    const { gateway, state } = await failingGateway(failure);
    try {
      const email = `${unique("maybe")}@example.com`;
      expect((await send(WEB, { email }, {}, gateway)).status).toBe(503);
      expect(await gateway.prisma.otpChallenge.count({ where: { target: email } })).toBe(0);
      expect(
        await gateway.prisma.rateLimitEvent.count({ where: { key: { in: [`target:email:${email}`, "client:web"] } } }),
      ).toBeGreaterThanOrEqual(2);
      state.fail = false;
      const again = await send(WEB, { email }, {}, gateway);
      expect(again.status).toBe(400);
      expect(again.body).toEqual({
        error: "email_rate_limit_exceeded",
        error_description: "Email rate limit exceeded for same email",
      });
      expect(again.headers.get("retry-after")).toBe("30");
    } finally {
      await gateway.close();
    }
  });
});

describe("purging", () => {
  it("deletes challenges an hour after they expire, and rate-limit events after a day", async () => {
    const email = `${unique("purge")}@example.com`;
    await send(WEB, { email });
    gw.clock.advance(300 + 3600 + 1);
    expect(await gw.prisma.otpChallenge.count({ where: { target: email } })).toBe(1);
    await gw.app.otp.purgeExpired();
    expect(await gw.prisma.otpChallenge.count({ where: { target: email } })).toBe(0);
    gw.clock.advance(86_400);
    await gw.app.otp.purgeExpired();
    expect(await gw.prisma.rateLimitEvent.count({ where: { key: `target:email:${email}` } })).toBe(0);
  });
});

describe("routing", () => {
  it("answers GET with 405", async () => {
    const response = await gw.fetch("/otp/send");
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });
});
