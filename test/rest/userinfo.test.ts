import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestGateway, jsonRequest, type TestGateway } from "../support/gateway.js";

let gw: TestGateway;
let subCounter = 0;
/** A subject no other test uses. */
const freshSub = (prefix = "user") => `${prefix}-${++subCounter}`;

async function patch(sub: string, body: unknown, raw?: RequestInit) {
  const token = await gw.token(sub);
  const response = await gw.fetch("/userinfo", raw ?? jsonRequest("PATCH", token, body));
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function expectError(sub: string, body: unknown, error: string, description?: string) {
  const result = await patch(sub, body);
  expect(result.status).toBe(error === "user_not_found" ? 404 : 400);
  expect(result.headers.get("content-type")).toBe("application/json;charset=UTF-8");
  expect(result.body).toEqual(description === undefined ? { error } : { error, error_description: description });
  return result;
}

const userRow = (sub: string) => gw.prisma.user.findUnique({ where: { sub } });

beforeAll(async () => {
  gw = await createTestGateway();
  await gw.store.customAttributes.save({ name: "employee_id", type: "string", pattern: "E[0-9]{4}", writable: true });
  await gw.store.customAttributes.save({ name: "age", type: "number", pattern: null, writable: true });
  await gw.store.customAttributes.save({ name: "newsletter", type: "boolean", pattern: null, writable: true });
  await gw.store.customAttributes.save({ name: "tier", type: "string", pattern: null, writable: false });
});
afterAll(() => gw?.close());

describe("PATCH /userinfo success", () => {
  it("updates the nickname and answers with the claims", async () => {
    const sub = freshSub();
    const result = await patch(sub, { nickname: "MOCK_NICKNAME" });
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toBe("application/json");
    expect(result.body).toEqual({
      sub,
      nickname: "MOCK_NICKNAME",
      updated_at: Math.floor(gw.clock.now().getTime() / 1000),
    });
    const row = await userRow(sub);
    expect(row?.nickname).toBe("MOCK_NICKNAME");
    expect(row?.updatedAt.getTime()).toBe(gw.clock.now().getTime());
  });

  it("returns the same claims from GET afterwards, with sub first", async () => {
    const sub = freshSub();
    await patch(sub, { name: "Ann", nickname: "A", zoneinfo: "Europe/Paris", locale: "fr-FR" });
    const response = await gw.fetch("/userinfo", { headers: { authorization: `Bearer ${await gw.token(sub)}` } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.startsWith(`{"sub":"${sub}"`)).toBe(true);
    expect(JSON.parse(text)).toMatchObject({ name: "Ann", nickname: "A", zoneinfo: "Europe/Paris", locale: "fr-FR" });
  });

  it("increments the version on each write and leaves other attributes alone", async () => {
    const sub = freshSub();
    await patch(sub, { name: "First", nickname: "one" });
    const before = await userRow(sub);
    await patch(sub, { nickname: "two" });
    const after = await userRow(sub);
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    expect(after?.name).toBe("First");
    expect(after?.nickname).toBe("two");
  });

  it("trims names and counts Unicode characters, not UTF-16 units", async () => {
    const sub = freshSub();
    const emoji = "😀".repeat(64);
    expect((await patch(sub, { name: "  Zhang San  ", nickname: emoji })).body).toMatchObject({
      name: "Zhang San",
      nickname: emoji,
    });
  });

  it("canonicalizes locale and time zone", async () => {
    const sub = freshSub();
    expect((await patch(sub, { locale: "en_US", zoneinfo: "asia/shanghai" })).body).toMatchObject({
      locale: "en-US",
      zoneinfo: "Asia/Shanghai",
    });
    expect((await patch(sub, { locale: "zh-hans-cn" })).body).toMatchObject({ locale: "zh-Hans-CN" });
  });

  it("removes attributes set to null", async () => {
    const sub = freshSub();
    await patch(sub, { name: "Gone", nickname: "Stays", locale: "en-US", employee_id: "E1234" });
    const result = await patch(sub, { name: null, locale: null, employee_id: null });
    expect(result.status).toBe(200);
    expect(result.body).not.toHaveProperty("name");
    expect(result.body).not.toHaveProperty("locale");
    expect(result.body).not.toHaveProperty("employee_id");
    expect(result.body).toMatchObject({ nickname: "Stays" });
    const row = await userRow(sub);
    expect(row?.name).toBeNull();
    expect(row?.customAttributes).toEqual({});
  });

  it("writes custom attributes of each type", async () => {
    const sub = freshSub();
    const result = await patch(sub, { employee_id: "E0042", age: 37.5, newsletter: false });
    expect(result.body).toMatchObject({ employee_id: "E0042", age: 37.5, newsletter: false });
    expect((await userRow(sub))?.customAttributes).toEqual({ employee_id: "E0042", age: 37.5, newsletter: false });
  });

  it("answers an empty object with the current claims, creating the profile", async () => {
    const sub = freshSub();
    const result = await patch(sub, {});
    expect(result.status).toBe(200);
    expect(result.body.sub).toBe(sub);
    expect(await userRow(sub)).not.toBeNull();
  });
});

describe("PATCH /userinfo with OTP", () => {
  it("changes the email with a valid OTP, stores it as given and marks it verified", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", "alice@example.com", { sub });
    const result = await patch(sub, { email: "Alice@Example.COM", email_otp_token: otp.token, email_otp: otp.code });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ email: "Alice@Example.COM", email_verified: true });
    const row = await userRow(sub);
    expect(row).toMatchObject({ email: "Alice@Example.COM", emailVerified: true });
    const challenge = await gw.prisma.otpChallenge.findFirst({ where: { target: "alice@example.com" } });
    expect(challenge?.consumedAt?.getTime()).toBe(gw.clock.now().getTime());
  });

  it.each([["+86 138-0013-8000"], ["0086 13800138000"], ["138 0013 8000"], ["13800138000"]])(
    "normalizes the phone number %s to its bare 11 digits",
    async (input) => {
      const sub = freshSub();
      const otp = await gw.otp("sms", "13800138000", { sub });
      const result = await patch(sub, {
        phone_number: input,
        phone_number_otp_token: otp.token,
        phone_number_otp: otp.code,
      });
      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ phone_number: "13800138000", phone_number_verified: true });
      await gw.prisma.user.update({ where: { sub }, data: { phoneNumber: null } });
    },
  );

  it("needs the companions even when the email does not change", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    await patch(sub, { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code });
    await expectError(
      sub,
      { email: `${sub}@example.com` },
      "invalid_request",
      "email requires email_otp_token and email_otp.",
    );
  });

  it("accepts a token only once", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    expect((await patch(sub, body)).status).toBe(200);
    await expectError(sub, body, "bad_email_otp_token");
  });

  it("accepts a token sent with the application's credentials (bound to no user)", async () => {
    const sub = freshSub();
    const issued = await gw.issueOtp({
      channel: "email",
      target: `${sub}@example.com`,
      usage: "update_userinfo",
      clientId: "web",
      userSub: null,
    });
    const result = await patch(sub, {
      email: `${sub}@example.com`,
      email_otp_token: issued.otpToken,
      email_otp: issued.code,
    });
    expect(result.status).toBe(200);
  });

  describe("bad tokens", () => {
    const cases: [string, (sub: string) => Promise<{ token: string; code: string }>][] = [
      ["unknown", async () => ({ token: "no-such-token", code: "123456" })],
      ["issued for another email", (sub) => gw.otp("email", `other-${sub}@example.com`, { sub })],
      ["issued for another user", (sub) => gw.otp("email", `${sub}@example.com`, { sub: `not-${sub}` })],
      ["issued to another application", (sub) => gw.otp("email", `${sub}@example.com`, { sub, clientId: "other-app" })],
      ["issued for the sms channel", (sub) => gw.otp("sms", `${sub}@example.com`, { sub })],
      [
        "issued for another usage",
        async (sub) => {
          const issued = await gw.issueOtp({
            channel: "email",
            target: `${sub}@example.com`,
            usage: "login",
            clientId: "web",
            userSub: sub,
          });
          return { token: issued.otpToken, code: issued.code };
        },
      ],
      [
        "expired (5 minutes)",
        async (sub) => {
          const otp = await gw.otp("email", `${sub}@example.com`, { sub });
          gw.clock.advance(300);
          return otp;
        },
      ],
      [
        "superseded by a newer send",
        async (sub) => {
          const otp = await gw.otp("email", `${sub}@example.com`, { sub });
          await gw.otp("email", `${sub}@example.com`, { sub });
          return otp;
        },
      ],
    ];
    it.each(cases)("rejects a token %s", async (_label, make) => {
      const sub = freshSub();
      const otp = await make(sub);
      await expectError(
        sub,
        { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code },
        "bad_email_otp_token",
      );
      expect((await userRow(sub))?.email ?? null).toBeNull();
    });

    it("burns a token after 5 wrong codes, even for the right code", async () => {
      const sub = freshSub();
      const otp = await gw.otp("sms", "13900139000", { sub });
      const body = (code: string) => ({
        phone_number: "13900139000",
        phone_number_otp_token: otp.token,
        phone_number_otp: code,
      });
      for (let i = 0; i < 5; i++) await expectError(sub, body("000000"), "bad_phone_number_otp");
      const challenge = await gw.prisma.otpChallenge.findFirst({ where: { target: "13900139000", userSub: sub } });
      expect(challenge?.attempts).toBe(5);
      await expectError(sub, body(otp.code), "bad_phone_number_otp_token");
    });
  });

  it("rejects a wrong code, counts it, and accepts the right one afterwards", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = (code: string) => ({ email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: code });
    await expectError(sub, body("999999"), "bad_email_otp");
    await expectError(sub, body(""), "bad_email_otp");
    const challenge = await gw.prisma.otpChallenge.findFirst({ where: { target: `${sub}@example.com` } });
    expect(challenge).toMatchObject({ attempts: 2, consumedAt: null });
    expect((await patch(sub, body(otp.code))).status).toBe(200);
  });

  it("rejects a code after 60 seconds", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    gw.clock.advance(60);
    await expectError(
      sub,
      { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code },
      "bad_email_otp",
    );
  });

  it("checks tokens before codes, and the phone number before the email", async () => {
    const sub = freshSub();
    const phone = await gw.otp("sms", "13700137000", { sub });
    const email = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = {
      phone_number: "13700137000",
      phone_number_otp_token: phone.token,
      phone_number_otp: "000000",
      email: `${sub}@example.com`,
      email_otp_token: "unknown",
      email_otp: email.code,
    };
    await expectError(sub, body, "bad_email_otp_token");
    await expectError(sub, { ...body, email_otp_token: email.token, email_otp: "000000" }, "bad_phone_number_otp");
    await expectError(sub, { ...body, phone_number_otp_token: "unknown" }, "bad_phone_number_otp_token");
  });
});

describe("duplicates", () => {
  it("refuses an email held by another user, case-insensitively, after the OTP is proven", async () => {
    const holder = freshSub("holder");
    const sub = freshSub();
    const held = await gw.otp("email", `${holder}@example.com`, { sub: holder });
    await patch(holder, { email: `${holder}@example.com`, email_otp_token: held.token, email_otp: held.code });

    const otp = await gw.otp("email", `${holder}@example.com`, { sub });
    const body = {
      email: `${holder.toUpperCase()}@EXAMPLE.com`,
      email_otp_token: otp.token,
      email_otp: otp.code,
      nickname: "x",
    };
    await expectError(sub, { ...body, email_otp: "000000" }, "bad_email_otp");
    const result = await expectError(sub, body, "duplicate_email");
    expect(result.status).toBe(400);
    expect(await userRow(sub)).toBeNull();
    const challenge = await gw.prisma.otpChallenge.findFirst({ where: { userSub: sub } });
    expect(challenge?.consumedAt).toBeNull();
  });

  it("refuses a phone number held by another user", async () => {
    const holder = freshSub("holder");
    const sub = freshSub();
    const held = await gw.otp("sms", "15000150000", { sub: holder });
    await patch(holder, {
      phone_number: "15000150000",
      phone_number_otp_token: held.token,
      phone_number_otp: held.code,
    });
    await patch(sub, { nickname: "before" });
    const otp = await gw.otp("sms", "15000150000", { sub });
    await expectError(
      sub,
      {
        phone_number: "+8615000150000",
        phone_number_otp_token: otp.token,
        phone_number_otp: otp.code,
        nickname: "after",
      },
      "duplicate_phone_number",
    );
    expect((await userRow(sub))?.nickname).toBe("before");
  });

  it("lets exactly one of many concurrent claims of one email win", async () => {
    const email = `race-${freshSub()}@example.com`;
    const subs = Array.from({ length: 8 }, () => freshSub("racer"));
    const requests = await Promise.all(
      subs.map(async (sub) => {
        const otp = await gw.otp("email", email, { sub });
        return patch(sub, { email, email_otp_token: otp.token, email_otp: otp.code });
      }),
    );
    const statuses = requests.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(requests.filter((r) => r.body.error === "duplicate_email")).toHaveLength(subs.length - 1);
    expect(await gw.prisma.user.count({ where: { email } })).toBe(1);
  });

  it("accepts one token at most once under concurrency", async () => {
    const sub = freshSub();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    const results = await Promise.all(Array.from({ length: 6 }, () => patch(sub, body)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error === "bad_email_otp_token")).toHaveLength(5);
  });

  it("does not deadlock when concurrent requests name the same tokens in crossed places", async () => {
    const sub = freshSub();
    const phone = await gw.otp("sms", "13600136000", { sub });
    const email = await gw.otp("email", `${sub}@example.com`, { sub });
    const crossed = (a: { token: string }, b: { token: string }) => ({
      phone_number: "13600136000",
      phone_number_otp_token: a.token,
      phone_number_otp: phone.code,
      email: `${sub}@example.com`,
      email_otp_token: b.token,
      email_otp: email.code,
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => patch(sub, i % 2 === 0 ? crossed(phone, email) : crossed(email, phone))),
    );
    expect(
      results.every(
        (r) =>
          r.status === 200 || r.body.error === "bad_phone_number_otp_token" || r.body.error === "bad_email_otp_token",
      ),
    ).toBe(true);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
  });

  it("loses no attribute when different attributes of one user are updated concurrently", async () => {
    const sub = freshSub();
    await patch(sub, {});
    const updates = [
      { name: "N" },
      { nickname: "K" },
      { zoneinfo: "UTC" },
      { locale: "de-DE" },
      { employee_id: "E0001" },
      { age: 3 },
      { newsletter: true },
    ];
    await Promise.all(updates.map((u) => patch(sub, u)));
    const row = await userRow(sub);
    expect(row).toMatchObject({ name: "N", nickname: "K", zoneinfo: "UTC", locale: "de-DE" });
    expect(row?.customAttributes).toEqual({ employee_id: "E0001", age: 3, newsletter: true });
    expect(row?.version).toBe(1 + updates.length);
  });
});

describe("PATCH /userinfo errors, in order", () => {
  it.each([
    ["text/plain", "{}"],
    ["application/x-www-form-urlencoded", "nickname=x"],
  ])("rejects Content-Type %s", async (contentType, body) => {
    const token = await gw.token(freshSub());
    const response = await gw.fetch("/userinfo", {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": contentType },
      body,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "invalid_request",
      error_description: "Content-Type must be application/json.",
    });
  });

  it.each([
    ["{not json", "The request body is not valid JSON."],
    ["", "The request body is empty."],
    ["[1,2]", "The request body must be a JSON object."],
    ["null", "The request body must be a JSON object."],
    ['"nickname"', "The request body must be a JSON object."],
  ])("rejects the body %j", async (raw, description) => {
    const sub = freshSub();
    const token = await gw.token(sub);
    const result = await patch(sub, undefined, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: raw,
    });
    expect(result.status).toBe(400);
    expect(result.body).toEqual({ error: "invalid_request", error_description: description });
  });

  it("authenticates before reading the body", async () => {
    const response = await gw.fetch("/userinfo", {
      method: "PATCH",
      headers: { "content-type": "text/plain" },
      body: "x",
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_request"');
  });

  it.each([
    [{ foo: 1 }],
    [{ nickname: "ok", Nickname: "case matters" }],
    [{ sub: "x", foo: 1 }],
    [{ email: "a@b.c", bar: 2 }],
  ])("rejects unknown attributes first: %j", async (body) => {
    await expectError(freshSub(), body, "invalid_request", "Unknown attribute(s) found.");
  });

  it("rejects a __proto__ key as unknown", async () => {
    const sub = freshSub();
    const token = await gw.token(sub);
    const response = await gw.fetch("/userinfo", {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"__proto__": {"nickname": "x"}}',
    });
    expect(await response.json()).toEqual({
      error: "invalid_request",
      error_description: "Unknown attribute(s) found.",
    });
  });

  it.each([
    ["sub"],
    ["username"],
    ["email_verified"],
    ["phone_number_verified"],
    ["updated_at"],
    ["created_at"],
    ["picture"],
    ["authenticationMethod"],
    ["given_name"],
    ["birthdate"],
    ["address"],
    ["tier"],
  ])("rejects the read-only attribute %s", async (key) => {
    await expectError(
      freshSub(),
      { nickname: "x", [key]: "v" },
      "invalid_request",
      "Unsupported user attribute(s) found.",
    );
  });

  it("reports unsupported attributes before missing companions", async () => {
    await expectError(
      freshSub(),
      { sub: "x", email: "a@b.c" },
      "invalid_request",
      "Unsupported user attribute(s) found.",
    );
  });

  it.each([
    [{ phone_number: "13800138000" }, "phone_number requires phone_number_otp_token and phone_number_otp."],
    [{ phone_number: "13800138000", phone_number_otp: "1" }, "phone_number requires phone_number_otp_token."],
    [{ email: "a@b.c", email_otp_token: "t" }, "email requires email_otp."],
    [{ email_otp: "1" }, "email_otp given without email."],
    [
      { phone_number_otp_token: "t", phone_number_otp: "1" },
      "phone_number_otp_token and phone_number_otp given without phone_number.",
    ],
    [{ email: "bad", phone_number: "bad" }, "phone_number requires phone_number_otp_token and phone_number_otp."],
  ])("names missing companions: %j", async (body, description) => {
    await expectError(freshSub(), body, "invalid_request", description);
  });

  const withOtp = (attrs: Record<string, unknown>) => ({
    ...("phone_number" in attrs ? { phone_number_otp_token: "t", phone_number_otp: "123456" } : {}),
    ...("email" in attrs ? { email_otp_token: "t", email_otp: "123456" } : {}),
    ...attrs,
  });

  it.each([
    ["12345"],
    ["23800138000"],
    ["1380013800"],
    ["+1 202 555 0100"],
    ["12800138000"],
    ["138001380001"],
    ["8613800138000"],
    [""],
    [13800138000],
    [null],
    [true],
  ])("rejects the phone number %j as malformed", async (phone) => {
    await expectError(freshSub(), withOtp({ phone_number: phone }), "malformed_phone_number");
  });

  it.each([
    ["plainaddress"],
    ["a@b@c.com"],
    ["a b@c.com"],
    ["a@"],
    ["@b.com"],
    [".a@b.com"],
    ["a..b@c.com"],
    ["ä@b.com"],
    [`${"a".repeat(250)}@b.com`],
    [42],
    [null],
    ['"quoted local"@example.com'],
    ["x@[127.0.0.1]"],
  ])("rejects the email %j as malformed", async (email) => {
    await expectError(freshSub(), withOtp({ email }), "malformed_email");
  });

  it.each([["user+tag@sub.example.co"], ["o'brien@example.com"], [`${"a".repeat(64)}@example.com`]])(
    "accepts the dot-atom address %s as well-formed (the OTP decides next)",
    async (email) => {
      await expectError(freshSub(), withOtp({ email }), "bad_email_otp_token");
    },
  );

  it("reports a malformed phone number before a malformed email, and both before illegal values", async () => {
    await expectError(freshSub(), withOtp({ phone_number: "1", email: "bad", name: "" }), "malformed_phone_number");
    await expectError(freshSub(), withOtp({ phone_number: "13800138000", email: "bad", name: "" }), "malformed_email");
  });

  it.each([
    [{ name: "" }],
    [{ name: "   " }],
    [{ name: "x".repeat(65) }],
    [{ name: 42 }],
    [{ name: ["a"] }],
    [{ nickname: "bell\u0007" }],
    [{ nickname: "line\nbreak" }],
    [{ zoneinfo: "Mars/Olympus_Mons" }],
    [{ zoneinfo: "posixrules" }],
    [{ zoneinfo: "localtime" }],
    [{ zoneinfo: "Factory" }],
    [{ zoneinfo: "posix/Asia/Shanghai" }],
    [{ zoneinfo: "right/UTC" }],
    [{ zoneinfo: "" }],
    [{ zoneinfo: 8 }],
    [{ locale: "not a locale" }],
    [{ locale: "" }],
    [{ locale: "en-US-x" }],
    [{ locale: true }],
    [{ employee_id: "X1234" }],
    [{ employee_id: "E12345" }],
    [{ employee_id: "" }],
    [{ employee_id: 1234 }],
    [{ age: "37" }],
    [{ newsletter: "yes" }],
    [{ email: "a@b.c", email_otp_token: 1, email_otp: "123456" }],
    [{ email: "a@b.c", email_otp_token: "t", email_otp: 123456 }],
  ])("rejects the illegal value %j", async (body) => {
    await expectError(freshSub(), body, "illegal_parameter_value");
  });

  it("reports an illegal value before a bad OTP token", async () => {
    await expectError(freshSub(), withOtp({ email: "a@b.c", nickname: "" }), "illegal_parameter_value");
  });

  it("changes nothing when any part of the request fails", async () => {
    const sub = freshSub();
    await patch(sub, { name: "Kept", nickname: "kept" });
    const before = await userRow(sub);
    await expectError(sub, { nickname: "changed", zoneinfo: "Nowhere/Land" }, "illegal_parameter_value");
    await expectError(sub, { name: "changed", sub: "x" }, "invalid_request", "Unsupported user attribute(s) found.");
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    await expectError(
      sub,
      { nickname: "changed", email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: "000000" },
      "bad_email_otp",
    );
    expect(await userRow(sub)).toEqual(before);
  });
});

describe("claims filtering", () => {
  it("returns only the application's registered claims, sub always, authenticationMethod never", async () => {
    await gw.store.applications.save({
      clientId: "narrow",
      secretHash: null,
      claims: ["nickname", "authenticationMethod", "age"],
    });
    const sub = freshSub();
    await patch(sub, { name: "Hidden", nickname: "Shown", age: 9 });
    const token = await gw.token(sub, { clientId: "narrow" });
    const response = await gw.fetch("/userinfo", { headers: { authorization: `Bearer ${token}` } });
    expect(await response.json()).toEqual({ sub, nickname: "Shown", age: 9 });
    const patched = await gw.fetch("/userinfo", jsonRequest("PATCH", token, { name: "Still hidden" }));
    expect(await patched.json()).toEqual({ sub, nickname: "Shown", age: 9 });
  });

  it("gives unknown applications every standard claim and custom attribute", async () => {
    const sub = freshSub();
    const result = await patch(sub, { name: "N", employee_id: "E7777" });
    expect(Object.keys(result.body)).toEqual(["sub", "name", "updated_at", "employee_id"]);
  });

  it("identifies the application by client_id, else azp", async () => {
    await gw.store.applications.save({ clientId: "azp-app", secretHash: null, claims: ["name"] });
    const sub = freshSub();
    await patch(sub, { name: "N", nickname: "K" });
    const read = async (token: string) =>
      (await gw.fetch("/userinfo", { headers: { authorization: `Bearer ${token}` } })).json();
    expect(await read(await gw.token(sub, { clientId: undefined, extra: { azp: "azp-app" } }))).toEqual({
      sub,
      name: "N",
    });
    expect(await read(await gw.token(sub, { clientId: "narrow", extra: { azp: "azp-app" } }))).toEqual({
      sub,
      nickname: "K",
    });
    expect(await read(await gw.token(sub, { clientId: undefined }))).toMatchObject({ name: "N", nickname: "K" });
  });
});

describe("without just-in-time provisioning", () => {
  let strict: TestGateway;
  beforeAll(async () => {
    strict = await createTestGateway({ env: { JIT_PROVISIONING: "false" }, database: gw.database });
  });
  afterAll(() => strict?.close());

  it("answers 404 user_not_found for GET and PATCH, after every other check", async () => {
    const sub = freshSub("ghost");
    const token = await strict.token(sub);
    const get = await strict.fetch("/userinfo", { headers: { authorization: `Bearer ${token}` } });
    expect(get.status).toBe(404);
    expect(await get.json()).toEqual({ error: "user_not_found" });
    const patched = await strict.fetch("/userinfo", jsonRequest("PATCH", token, { nickname: "x" }));
    expect(patched.status).toBe(404);
    expect(await patched.json()).toEqual({ error: "user_not_found" });
    const bad = await strict.fetch("/userinfo", jsonRequest("PATCH", token, { nickname: "" }));
    expect(await bad.json()).toEqual({ error: "illegal_parameter_value" });
    expect(await userRow(sub)).toBeNull();
  });

  it("reports a duplicate before user_not_found, and consumes nothing", async () => {
    const holder = freshSub("holder");
    const held = await gw.otp("email", `${holder}@example.com`, { sub: holder });
    await patch(holder, { email: `${holder}@example.com`, email_otp_token: held.token, email_otp: held.code });
    const sub = freshSub("ghost");
    const otp = await strict.otp("email", `${holder}@example.com`, { sub });
    const token = await strict.token(sub);
    const body = { email: `${holder}@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    const response = await strict.fetch("/userinfo", jsonRequest("PATCH", token, body));
    expect(await response.json()).toEqual({ error: "duplicate_email" });
    const fresh = await strict.otp("email", `${sub}@example.com`, { sub });
    const notFound = await strict.fetch(
      "/userinfo",
      jsonRequest("PATCH", token, { email: `${sub}@example.com`, email_otp_token: fresh.token, email_otp: fresh.code }),
    );
    expect(notFound.status).toBe(404);
    expect(
      (await strict.prisma.otpChallenge.findFirst({ where: { target: `${sub}@example.com` } }))?.consumedAt,
    ).toBeNull();
  });

  it("updates an existing user", async () => {
    const sub = freshSub();
    await gw.store.users.create({ sub, createdAt: gw.clock.now() });
    const response = await strict.fetch(
      "/userinfo",
      jsonRequest("PATCH", await strict.token(sub), { nickname: "exists" }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub, nickname: "exists" });
  });
});

describe("routing", () => {
  it("answers other methods with 405 and Allow", async () => {
    const response = await gw.fetch("/userinfo", { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, PATCH");
  });
});

describe("audit trail", () => {
  it("records every change with the application, the attributes and masked addresses", async () => {
    const sub = freshSub("audited");
    const phone = await gw.otp("sms", "18812345678", { sub });
    const email = await gw.otp("email", "audited.person@example.com", { sub });
    await patch(sub, {
      nickname: "N",
      locale: null,
      employee_id: "E0001",
      phone_number: "18812345678",
      phone_number_otp_token: phone.token,
      phone_number_otp: phone.code,
      email: "Audited.Person@example.com",
      email_otp_token: email.token,
      email_otp: email.code,
    });
    await patch(sub, { age: null });
    const events = await gw.prisma.auditEvent.findMany({ where: { sub }, orderBy: { id: "asc" } });
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      clientId: "web",
      attributes: ["phone_number", "email", "nickname", "locale", "employee_id"],
      changes: {
        phone_number: "188****5678",
        email: "A***@example.com",
        nickname: "N",
        locale: null,
        employee_id: "E0001",
      },
    });
    expect(events[0]!.createdAt.getTime()).toBe(gw.clock.now().getTime());
    expect(events[1]).toMatchObject({ attributes: ["age"], changes: { age: null } });
    const recorded = JSON.stringify(events.map((e) => e.changes));
    expect(recorded).not.toContain("18812345678");
    expect(recorded).not.toContain("Audited.Person");
  });

  it("records nothing for failed or empty requests", async () => {
    const sub = freshSub("unaudited");
    await patch(sub, {});
    await expectError(sub, { nickname: "" }, "illegal_parameter_value");
    await expectError(sub, { email: "x@example.com", email_otp_token: "nope", email_otp: "1" }, "bad_email_otp_token");
    expect(await gw.prisma.auditEvent.count({ where: { sub } })).toBe(0);
  });
});
