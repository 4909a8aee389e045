import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryFailure, type OtpMessage, type OtpSender } from "../../src/domain/ports.js";
import { createTestGateway, jsonRequest, type TestGateway } from "../support/gateway.js";

// SPEC 5.1 (versions), 5.2 (Idempotency-Key), 5.3 (step-up), 5.6 (claims by scope), on both faces.

/** A sender the test controls: it holds every message until released, or fails while told to. */
function controlledSender(): OtpSender & {
  messages: OtpMessage[];
  hold(): () => void;
  failing: boolean;
} {
  let gate: Promise<void> | undefined;
  const sender = {
    messages: [] as OtpMessage[],
    failing: false,
    hold() {
      let open: () => void = () => undefined;
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      return () => {
        gate = undefined;
        open();
      };
    },
    async send(message: OtpMessage) {
      if (gate !== undefined) await gate;
      if (sender.failing) throw new DeliveryFailure("the provider refused it", false);
      sender.messages.push(message);
    },
  };
  return sender;
}

let gw: TestGateway;
let other: TestGateway;
const sender = controlledSender();
let n = 0;
const fresh = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  gw = await createTestGateway({ sender });
  // A second gateway on the same database: another pool, as another process has.
  other = await createTestGateway({ database: gw.database, clock: gw.clock, sender });
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

const bearer = async (sub: string, target = gw) => `Bearer ${await target.token(sub)}`;

async function call(
  method: string,
  path: string,
  {
    sub,
    body,
    headers = {},
    target = gw,
  }: { sub: string; body?: unknown; headers?: Record<string, string>; target?: TestGateway },
) {
  const init = jsonRequest(method, await target.token(sub), body);
  const response = await target.fetch(path, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), ...headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text === "" ? undefined : JSON.parse(text) };
}

const patch = (sub: string, body: unknown, headers: Record<string, string> = {}, target = gw) =>
  call("PATCH", "/userinfo", { sub, body, headers, target });
const get = (sub: string, headers: Record<string, string> = {}) => call("GET", "/userinfo", { sub, headers });
const send = (sub: string, body: unknown, headers: Record<string, string> = {}, target = gw) =>
  call("POST", "/otp/send", { sub, body, headers, target });

async function graphql(sub: string, query: string, variables: Record<string, unknown>, target = gw) {
  const response = await target.fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: await bearer(sub, target) },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: GraphQL answers are untyped JSON that each test walks into
  return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

const UPDATE = `mutation ($input: UpdateUserInfoInput!) {
  updateUserInfo(input: $input) {
    __typename
    ... on UserInfo { sub nickname email version }
    ... on PreconditionFailedError { currentVersion }
    ... on StepUpRequiredError { maxAgeSeconds }
    ... on Error { code message field }
  }
}`;
const SEND = `mutation ($input: SendOtpInput!) {
  sendOtp(input: $input) { __typename ... on SendOtpSuccess { otpToken } ... on Error { code message } }
}`;

const row = (sub: string) => gw.prisma.user.findUnique({ where: { sub } });
const audits = (sub: string) => gw.prisma.auditEvent.count({ where: { sub } });

describe("5.1 versions: ETag, If-None-Match, If-Match", () => {
  it("answers GET and PATCH with the version as a strong ETag, and 304 for a matching If-None-Match", async () => {
    const sub = fresh("etag");
    const first = await get(sub);
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe('"1"');
    const changed = await patch(sub, { nickname: "n" });
    expect(changed.headers.get("etag")).toBe('"2"');
    for (const tag of ['"2"', 'W/"2"', '"7", "2"', "*"]) {
      const cached = await get(sub, { "if-none-match": tag });
      expect(cached.status).toBe(304);
      expect(cached.text).toBe("");
      expect(cached.headers.get("etag")).toBe('"2"');
    }
    const stale = await get(sub, { "if-none-match": '"1"' });
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ sub, nickname: "n" });
  });

  it("412 for a stale If-Match with the current ETag: nothing changed, no code checked or counted", async () => {
    const sub = fresh("stale");
    await get(sub); // version 1
    await patch(sub, { nickname: "one" });
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = { nickname: "two", email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: "000000" };
    const result = await patch(sub, body, { "if-match": '"1"' });
    expect(result.status).toBe(412);
    expect(result.headers.get("content-type")).toBe("application/json;charset=UTF-8");
    expect(result.headers.get("etag")).toBe('"2"');
    expect(result.body).toEqual({
      error: "precondition_failed",
      error_description: "The profile was changed by another request.",
    });
    expect(await row(sub)).toMatchObject({ nickname: "one", version: 2, email: null });
    expect(await audits(sub)).toBe(1);
    const stored = await gw.prisma.otpChallenge.findFirst({ where: { userSub: sub } });
    expect(stored).toMatchObject({ attempts: 0, consumedAt: null });
    // Weak tags never match for If-Match; the current strong one does.
    expect((await patch(sub, { nickname: "two" }, { "if-match": 'W/"2"' })).status).toBe(412);
    const ok = await patch(sub, { ...body, email_otp: otp.code }, { "if-match": '"5", "2"' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("etag")).toBe('"3"');
    expect(await row(sub)).toMatchObject({ nickname: "two", version: 3, email: `${sub}@example.com` });
  });

  it("lets exactly one of two concurrent PATCHes with the same If-Match win, across two gateways", async () => {
    for (let round = 0; round < 5; round++) {
      const sub = fresh("race");
      await get(sub); // version 1
      await patch(sub, { nickname: "start" });
      const results = await Promise.all([
        patch(sub, { nickname: "a" }, { "if-match": '"2"' }, gw),
        patch(sub, { nickname: "b" }, { "if-match": '"2"' }, other),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      const winner = results.find((r) => r.status === 200)!;
      expect(await row(sub)).toMatchObject({ version: 3, nickname: winner.body.nickname });
      expect(results.find((r) => r.status === 412)!.headers.get("etag")).toBe('"3"');
      expect(await audits(sub)).toBe(2);
    }
  });

  it("If-Match * needs a profile; without If-Match nothing changes from Tencent's behaviour", async () => {
    const sub = fresh("star");
    expect((await patch(sub, { nickname: "x" }, { "if-match": "*" })).status).toBe(412);
    expect(await row(sub)).toBeNull();
    expect((await patch(sub, { nickname: "x" })).status).toBe(200);
    expect((await patch(sub, { nickname: "y" }, { "if-match": "*" })).headers.get("etag")).toBe('"2"');
  });

  it("GraphQL: version, ifVersion and PreconditionFailedError", async () => {
    const sub = fresh("gql-version");
    await get(sub); // version 1
    const first = await graphql(sub, UPDATE, { input: { nickname: "one" } });
    expect(first.data?.updateUserInfo).toMatchObject({ __typename: "UserInfo", version: 2 });
    const stale = await graphql(sub, UPDATE, { input: { nickname: "two", ifVersion: 1 } });
    expect(stale.data?.updateUserInfo).toEqual({
      __typename: "PreconditionFailedError",
      currentVersion: 2,
      code: "precondition_failed",
      message: "The profile was changed by another request.",
      field: null,
    });
    const ok = await graphql(sub, UPDATE, { input: { nickname: "two", ifVersion: 2 } });
    expect(ok.data?.updateUserInfo).toMatchObject({ __typename: "UserInfo", nickname: "two", version: 3 });
  });
});

describe("5.2 Idempotency-Key", () => {
  it("replays the first answer byte for byte with Idempotent-Replayed, and writes nothing more", async () => {
    const sub = fresh("replay");
    await get(sub); // version 1
    const key = { "idempotency-key": fresh("key") };
    const first = await patch(sub, { nickname: "once", locale: "en_US" }, key);
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    gw.clock.advance(1);
    // The same JSON with its keys in another order.
    const again = await patch(sub, { locale: "en_US", nickname: "once" }, key);
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(again.headers.get("content-type")).toBe(first.headers.get("content-type"));
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await row(sub)).toMatchObject({ version: 2 });
    expect(await audits(sub)).toBe(1);
  });

  it("creates a new profile once: the repeat of its first PATCH is a replay", async () => {
    const sub = fresh("created");
    const key = { "idempotency-key": "create-1" };
    const first = await patch(sub, { nickname: "new" }, key);
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe('"1"');
    const again = await patch(sub, { nickname: "new" }, key);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await row(sub)).toMatchObject({ version: 1 });
    expect(await audits(sub)).toBe(1);
  });

  it("keeps a refused request's answer too: the repeat replays the 400, another body is 422", async () => {
    const sub = fresh("refused");
    const key = { "idempotency-key": "refused-1" };
    const first = await patch(sub, { nickname: "" }, key);
    expect(first.status).toBe(400);
    expect(first.body).toEqual({ error: "illegal_parameter_value" });
    const again = await patch(sub, { nickname: "" }, key);
    expect(again.status).toBe(400);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await patch(sub, { nickname: "fixed" }, key)).status).toBe(422);
    expect(await row(sub)).toBeNull();
  });

  it("of concurrent repeats on two gateways, one writes; the others replay its answer or get 409", async () => {
    for (let round = 0; round < 5; round++) {
      const sub = fresh("twins");
      await get(sub);
      const key = { "idempotency-key": `twins-${round}` };
      const results = await Promise.all(
        [gw, other, gw, other].map((target) => patch(sub, { nickname: `n${round}` }, key, target)),
      );
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(new Set(ok.map((r) => r.text)).size).toBe(1);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 409)).toBe(true);
      expect(ok.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);
      expect(await row(sub)).toMatchObject({ version: 2 });
      expect(await audits(sub)).toBe(1);
    }
  });

  it("a retried email change gets its 200 again, and the OTP token was consumed once", async () => {
    const sub = fresh("retry");
    const email = `${sub}@example.com`;
    const otp = await gw.otp("email", email, { sub });
    const body = { email, email_otp_token: otp.token, email_otp: otp.code };
    const key = { "idempotency-key": "retry-email-1" };
    const first = await patch(sub, body, key);
    expect(first.status).toBe(200);
    const retried = await patch(sub, body, key);
    expect(retried.status).toBe(200);
    expect(retried.text).toBe(first.text);
    expect((await patch(sub, body)).body).toEqual({ error: "bad_email_otp_token" });
    expect(await audits(sub)).toBe(1);
  });

  it("a replayed wrong code is not counted twice; the kept 400 comes back", async () => {
    const sub = fresh("wrong");
    const email = `${sub}@example.com`;
    const otp = await gw.otp("email", email, { sub });
    const body = { email, email_otp_token: otp.token, email_otp: "000000" };
    const key = { "idempotency-key": "wrong-code" };
    expect((await patch(sub, body, key)).body).toEqual({ error: "bad_email_otp" });
    const replay = await patch(sub, body, key);
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({ error: "bad_email_otp" });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await gw.prisma.otpChallenge.findFirst({ where: { userSub: sub } })).toMatchObject({ attempts: 1 });
  });

  it("a replayed send delivers nothing and returns the same token; scoped by caller", async () => {
    const sub = fresh("send");
    const before = sender.messages.length;
    const key = { "idempotency-key": "send-1" };
    const first = await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key);
    expect(first.status).toBe(200);
    const replay = await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key);
    expect(replay.text).toBe(first.text);
    expect(replay.headers.get("cache-control")).toBe("no-store");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(sender.messages.length).toBe(before + 1);
    // Another user's request with the same key is its own.
    const another = fresh("send");
    const theirs = await send(another, { usage: "update_userinfo", email: `${another}@example.com` }, key);
    expect(theirs.headers.get("idempotent-replayed")).toBeNull();
    expect(sender.messages.length).toBe(before + 2);
  });

  it("422 for the same key with a different body, 400 for a malformed key", async () => {
    const sub = fresh("mismatch");
    await get(sub); // version 1
    const key = { "idempotency-key": "k" };
    expect((await patch(sub, { nickname: "a" }, key)).status).toBe(200);
    const other = await patch(sub, { nickname: "b" }, key);
    expect(other.status).toBe(422);
    expect(other.body).toEqual({
      error: "invalid_request",
      error_description: "Idempotency-Key was used with a different request.",
    });
    expect(await row(sub)).toMatchObject({ nickname: "a", version: 2 });
    for (const bad of ["", "has space", "tab\there", "x".repeat(256), "é"]) {
      const result = await patch(sub, { nickname: "c" }, { "idempotency-key": bad });
      expect(result.status).toBe(400);
      expect(result.body).toEqual({ error: "invalid_request", error_description: "Invalid Idempotency-Key." });
    }
    expect((await patch(sub, { nickname: "c" }, { "idempotency-key": "x".repeat(255) })).status).toBe(200);
    expect(await row(sub)).toMatchObject({ nickname: "c" });
  });

  it("409 while the first request runs, also on another gateway; then the kept answer", async () => {
    const sub = fresh("busy");
    const key = { "idempotency-key": "busy-1" };
    const release = sender.hold();
    // Two at once on one gateway: their claims share a statement, and only one of them runs.
    const both = [0, 1].map((i) =>
      send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key, gw).then((result) => ({ i, result })),
    );
    const twin = await Promise.race(both);
    const first = both[1 - twin.i]!.then(({ result }) => result);
    try {
      expect(twin.result.status).toBe(409);
      await expect.poll(() => gw.prisma.idempotencyKey.count({ where: { key: "busy-1" } })).toBe(1);
      for (const target of [gw, other]) {
        const busy = await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key, target);
        expect(busy.status).toBe(409);
        expect(busy.body).toEqual({
          error: "invalid_request",
          error_description: "A request with this Idempotency-Key is being processed.",
        });
      }
    } finally {
      release();
    }
    const done = await first;
    expect(done.status).toBe(200);
    const replay = await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key, other);
    expect(replay.text).toBe(done.text);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
  });

  it("keeps nothing for a 5xx or an authentication failure", async () => {
    const sub = fresh("fail");
    const key = { "idempotency-key": "fail-1" };
    sender.failing = true;
    try {
      expect((await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key)).status).toBe(503);
    } finally {
      sender.failing = false;
    }
    expect(await gw.prisma.idempotencyKey.count({ where: { key: "fail-1" } })).toBe(0);
    const retried = await send(sub, { usage: "update_userinfo", email: `${sub}@example.com` }, key);
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();

    const unauthenticated = await gw.fetch("/userinfo", {
      method: "PATCH",
      headers: { "content-type": "application/json", authorization: "Bearer nope", "idempotency-key": "auth-1" },
      body: JSON.stringify({ nickname: "x" }),
    });
    expect(unauthenticated.status).toBe(401);
    expect(await gw.prisma.idempotencyKey.count({ where: { key: "auth-1" } })).toBe(0);
  });

  it("keys expire after IDEMPOTENCY_TTL_SECONDS and are purged", async () => {
    const sub = fresh("ttl");
    const key = { "idempotency-key": "ttl-1" };
    expect((await patch(sub, { nickname: "a" }, key)).status).toBe(200);
    const stored = await gw.prisma.idempotencyKey.findFirstOrThrow({ where: { key: "ttl-1" } });
    expect(stored.expiresAt.getTime() - gw.clock.now().getTime()).toBe(86_400_000);
    expect(stored).toMatchObject({ status: 200, fingerprint: expect.any(String) });
    gw.clock.advance(86_400);
    // Expired: the key is free again, and runs.
    const later = await patch(sub, { nickname: "b" }, key);
    expect(later.headers.get("idempotent-replayed")).toBeNull();
    expect(await row(sub)).toMatchObject({ nickname: "b" });
    gw.clock.advance(86_401);
    expect(await gw.app.idempotency.purgeExpired()).toBeGreaterThanOrEqual(1);
    expect(await gw.prisma.idempotencyKey.count({ where: { key: "ttl-1" } })).toBe(0);
  });

  it("GraphQL: idempotencyKey per mutation, the same member on replay, InvalidRequestError for other input", async () => {
    const sub = fresh("gql-key");
    await get(sub); // version 1
    const before = sender.messages.length;
    const sent = await graphql(sub, SEND, { input: { email: `${sub}@example.com`, idempotencyKey: "g1" } });
    const again = await graphql(sub, SEND, { input: { email: `${sub}@example.com`, idempotencyKey: "g1" } });
    expect(again).toEqual(sent);
    expect(sender.messages.length).toBe(before + 1);
    const token = sent.data?.sendOtp.otpToken as string;
    const wrong = { email: `${sub}@example.com`, emailOtpToken: token, emailOtp: "000000", idempotencyKey: "g1" };
    const failed = await graphql(sub, UPDATE, { input: wrong });
    expect(failed.data?.updateUserInfo).toMatchObject({ __typename: "BadOtpError", code: "bad_email_otp" });
    expect(await graphql(sub, UPDATE, { input: wrong })).toEqual(failed);
    expect(await gw.prisma.otpChallenge.findFirst({ where: { userSub: sub } })).toMatchObject({ attempts: 1 });
    const changed = await graphql(sub, UPDATE, { input: { ...wrong, emailOtp: "123456" } });
    expect(changed.data?.updateUserInfo).toMatchObject({
      __typename: "InvalidRequestError",
      code: "invalid_request",
      message: "Idempotency-Key was used with a different request.",
    });
    const ok = await graphql(sub, UPDATE, { input: { nickname: "n", idempotencyKey: "g2" } });
    expect(ok.data?.updateUserInfo).toMatchObject({ __typename: "UserInfo", nickname: "n", version: 2 });
    expect(await graphql(sub, UPDATE, { input: { nickname: "n", idempotencyKey: "g2" } })).toEqual(ok);
    expect(await row(sub)).toMatchObject({ version: 2 });
  });
});

describe("5.3 step-up for identifier changes", () => {
  let strict: TestGateway;
  beforeAll(async () => {
    strict = await createTestGateway({ env: { STEP_UP_MAX_AGE_SECONDS: "300" } });
  });
  afterAll(() => strict?.close());

  const token = (sub: string, authTime?: number) =>
    strict.token(sub, authTime === undefined ? {} : { extra: { auth_time: authTime } });

  it("401 with the RFC 9470 challenge for an old or missing auth_time; no code counted; others pass", async () => {
    const sub = "stepper";
    const now = Math.floor(strict.clock.now().getTime() / 1000);
    const otp = await strict.otp("email", "stepper@example.com", { sub });
    const body = { email: "stepper@example.com", email_otp_token: otp.token, email_otp: otp.code };
    for (const authTime of [undefined, now - 301]) {
      const response = await strict.fetch("/userinfo", jsonRequest("PATCH", await token(sub, authTime), body));
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        'Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required.", max_age=300',
      );
      expect(await response.json()).toEqual({
        error: "insufficient_user_authentication",
        error_description: "A more recent authentication is required.",
      });
    }
    expect(await strict.prisma.otpChallenge.findFirst({ where: { userSub: sub } })).toMatchObject({
      attempts: 0,
      consumedAt: null,
    });
    const nickname = await strict.fetch("/userinfo", jsonRequest("PATCH", await token(sub), { nickname: "n" }));
    expect(nickname.status).toBe(200);
    const fresh = await strict.fetch("/userinfo", jsonRequest("PATCH", await token(sub, now - 10), body));
    expect(fresh.status).toBe(200);
    expect(await fresh.json()).toMatchObject({ email: "stepper@example.com", email_verified: true });
  });

  it("GraphQL: StepUpRequiredError with maxAgeSeconds", async () => {
    const response = await strict.fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await token("stepper-g")}` },
      body: JSON.stringify({
        query: UPDATE,
        variables: { input: { phoneNumber: "13800138000", phoneNumberOtpToken: "t", phoneNumberOtp: "123456" } },
      }),
    });
    expect(((await response.json()) as { data: unknown }).data).toEqual({
      updateUserInfo: {
        __typename: "StepUpRequiredError",
        maxAgeSeconds: 300,
        code: "insufficient_user_authentication",
        message: "A more recent authentication is required.",
        field: null,
      },
    });
  });

  it("is off by default: an identifier change without auth_time passes", async () => {
    const sub = fresh("nostep");
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const body = { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    expect((await patch(sub, body)).status).toBe(200);
  });
});

describe("5.6 claims by scope", () => {
  let scoped: TestGateway;
  beforeAll(async () => {
    scoped = await createTestGateway({ env: { CLAIMS_BY_SCOPE: "true" } });
  });
  afterAll(() => scoped?.close());

  it("limits the REST body, the GraphQL fields and claims to the token's scopes", async () => {
    const sub = "scoped";
    const full = await scoped.token(sub);
    const otp = await scoped.otp("email", "scoped@example.com", { sub });
    const body = {
      name: "Ann",
      locale: "en-US",
      email: "scoped@example.com",
      email_otp_token: otp.token,
      email_otp: otp.code,
    };
    expect((await scoped.fetch("/userinfo", jsonRequest("PATCH", full, body))).status).toBe(200);
    const emailOnly = await scoped.token(sub, { scope: "openid email" });
    const rest = await scoped.fetch("/userinfo", jsonRequest("GET", emailOnly));
    expect(await rest.json()).toEqual({ sub, email: "scoped@example.com", email_verified: true });
    const gql = await scoped.fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${emailOnly}` },
      body: JSON.stringify({ query: "{ userInfo { sub name locale email emailVerified claims } }" }),
    });
    expect(await gql.json()).toEqual({
      data: {
        userInfo: {
          sub,
          name: null,
          locale: null,
          email: "scoped@example.com",
          emailVerified: true,
          claims: { sub, email: "scoped@example.com", email_verified: true },
        },
      },
    });
    const profileOnly = await scoped.token(sub, { scope: "openid profile" });
    const profile = (await (await scoped.fetch("/userinfo", jsonRequest("GET", profileOnly))).json()) as object;
    expect(Object.keys(profile).sort()).toEqual(["locale", "name", "sub", "updated_at"]);
  });
});
