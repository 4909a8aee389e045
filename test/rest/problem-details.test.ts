import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashClientSecret } from "../../src/auth/client-secrets.js";
import { UnavailableError } from "../../src/domain/errors.js";
import { DeliveryFailure } from "../../src/domain/ports.js";
import { createHttpHandler } from "../../src/http-server.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { errorBody, errorFormatOf } from "../../src/rest/responses.js";
import { createTestGateway, failingDefinitions, type TestGateway } from "../support/gateway.js";
import { expectDocumentedResponse } from "../support/openapi.js";

// SPEC 5.5: `Accept: application/problem+json` -> RFC 9457 problem details for every REST error; without it,
// Tencent's body as before. Each case runs twice: asking for problem details, then as a Tencent client.

const PROBLEM = "application/problem+json";
const TENCENT = "application/json;charset=UTF-8";

let gw: TestGateway;
let strict: TestGateway;
let broken: TestGateway;
let down: TestGateway;
let undeliverable: TestGateway;
let stepUp: TestGateway;
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`;

beforeAll(async () => {
  gw = await createTestGateway();
  await gw.store.applications.save({ clientId: "app", secretHash: await hashClientSecret("app-secret"), claims: [] });
  await gw.store.users.create({
    sub: "holder",
    email: "taken@example.com",
    phoneNumber: "13700137000",
    createdAt: gw.clock.now(),
  });
  const shared = { database: gw.database, clock: gw.clock };
  strict = await createTestGateway({ ...shared, env: { JIT_PROVISIONING: "false" } });
  broken = await createTestGateway({
    ...shared,
    wrapStore: failingDefinitions(new Error("secret internals at /srv/x.ts:1")),
  });
  down = await createTestGateway({ ...shared, wrapStore: failingDefinitions(new UnavailableError("database down")) });
  stepUp = await createTestGateway({ ...shared, env: { STEP_UP_MAX_AGE_SECONDS: "300" } });
  undeliverable = await createTestGateway({
    ...shared,
    sender: {
      async send() {
        throw new DeliveryFailure("provider unreachable", false);
      },
    },
  });
});
afterAll(async () => {
  await Promise.all([strict, broken, down, undeliverable, stepUp].map((g) => g?.close()));
  await gw?.close();
});

interface Case {
  readonly status: number;
  readonly error: string;
  /** The Tencent `error_description`, when the answer has one. */
  readonly description?: string;
  /** Headers both formats carry, exactly. */
  readonly headers?: Record<string, string | RegExp>;
  /** Makes a fresh request (path, init) on a gateway. */
  readonly request: () => Promise<Prepared>;
}

type Prepared = [TestGateway, string, RequestInit];
// Gateways are named by functions: they exist only once `beforeAll` ran. Each mints its own tokens (its own key).
const main = () => gw;
const bearer = async (sub: string, claims = {}, target = gw) => `Bearer ${await target.token(sub, claims)}`;
const patch =
  (body: unknown, sub = unique("p"), on = main, headers: Record<string, string> = {}) =>
  async (): Promise<Prepared> => [
    on(),
    "/userinfo",
    {
      method: "PATCH",
      headers: { authorization: await bearer(sub, {}, on()), "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
  ];
const send =
  (body: unknown, authorization?: string, on = main) =>
  async (): Promise<Prepared> => [
    on(),
    "/otp/send",
    {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
      body: JSON.stringify(body),
    },
  ];
const sendAgain = async (request: () => Promise<Prepared>) => {
  const [target, path, init] = await request();
  await target.fetch(path, init);
  return request();
};
const withOtp = (attribute: "email" | "phone_number", value: string, code?: string) => async () => {
  const sub = unique("otp");
  const otp = await gw.otp(attribute === "email" ? "email" : "sms", value, { sub });
  return patch(
    { [attribute]: value, [`${attribute}_otp_token`]: otp.token, [`${attribute}_otp`]: code ?? otp.code },
    sub,
  )();
};
const BEARER_CHALLENGE = /^Bearer error="/;

const cases: Record<string, Case> = {
  "no bearer token": {
    status: 400,
    error: "invalid_request",
    description: "Bearer token not found in the request",
    headers: { "www-authenticate": /^Bearer error="invalid_request"/ },
    request: async () => [gw, "/userinfo", {}],
  },
  "a token that is not a JWT": {
    status: 401,
    error: "invalid_token",
    description: "Error decoding JWT",
    headers: { "www-authenticate": /^Bearer error="invalid_token"/ },
    request: async () => [gw, "/userinfo", { headers: { authorization: "Bearer nope" } }],
  },
  "a token without openid": {
    status: 403,
    error: "insufficient_scope",
    description: "The request requires higher privileges than provided by the access token.",
    headers: { "www-authenticate": BEARER_CHALLENGE },
    request: async () => [gw, "/userinfo", { headers: { authorization: await bearer("s", { scope: "profile" }) } }],
  },
  "a body that is not JSON": {
    status: 400,
    error: "invalid_request",
    description: "The request body is not valid JSON.",
    request: patch("{nope"),
  },
  "an unknown attribute": {
    status: 400,
    error: "invalid_request",
    description: "Unknown attribute(s) found.",
    request: patch({ nope: 1 }),
  },
  "a malformed phone number": {
    status: 400,
    error: "malformed_phone_number",
    request: patch({ phone_number: "123", phone_number_otp_token: "t", phone_number_otp: "1" }),
  },
  "a malformed email": {
    status: 400,
    error: "malformed_email",
    request: patch({ email: "nope", email_otp_token: "t", email_otp: "1" }),
  },
  "an illegal value": { status: 400, error: "illegal_parameter_value", request: patch({ nickname: "  " }) },
  "an unknown phone OTP token": {
    status: 400,
    error: "bad_phone_number_otp_token",
    request: patch({ phone_number: "13800138000", phone_number_otp_token: "nope", phone_number_otp: "123456" }),
  },
  "an unknown email OTP token": {
    status: 400,
    error: "bad_email_otp_token",
    request: patch({ email: "a@example.com", email_otp_token: "nope", email_otp: "123456" }),
  },
  "a wrong phone code": {
    status: 400,
    error: "bad_phone_number_otp",
    request: withOtp("phone_number", "13600136000", "000000"),
  },
  "a wrong email code": { status: 400, error: "bad_email_otp", request: withOtp("email", "w@example.com", "000000") },
  "a taken phone number": {
    status: 400,
    error: "duplicate_phone_number",
    request: withOtp("phone_number", "13700137000"),
  },
  "a taken email": { status: 400, error: "duplicate_email", request: withOtp("email", "taken@example.com") },
  "a missing user without JIT provisioning": {
    status: 404,
    error: "user_not_found",
    request: patch({ nickname: "ghost" }, "ghost", () => strict),
  },
  "no client credentials": {
    status: 401,
    error: "invalid_client",
    headers: { "www-authenticate": "Basic" },
    request: send({ email: "a@example.com" }),
  },
  "a per-target SMS limit": {
    status: 400,
    error: "sms_rate_limit_exceeded",
    description: "SMS rate limit exceeded for same phone number",
    headers: { "retry-after": /^\d+$/ },
    request: () => sendAgain(send({ phone_number: "13900139000" }, basic("app", "app-secret"))),
  },
  "a per-target email limit": {
    status: 400,
    error: "email_rate_limit_exceeded",
    description: "Email rate limit exceeded for same email",
    headers: { "retry-after": /^\d+$/ },
    request: () => sendAgain(send({ email: "limit@example.com" }, basic("app", "app-secret"))),
  },
  "failed client authentications": {
    status: 429,
    error: "too_many_requests",
    headers: { "retry-after": /^\d+$/ },
    request: async () => {
      const wrong = send({ email: "a@example.com" }, basic("app", "wrong"));
      for (let i = 0; i < 10; i++) await gw.fetch(...((await wrong()).slice(1) as [string, RequestInit]));
      return wrong();
    },
  },
  "a failed delivery": {
    status: 503,
    error: "temporarily_unavailable",
    description: "Failed to send OTP. Please try again later.",
    request: send({ email: "down@example.com" }, basic("app", "app-secret"), () => undeliverable),
  },
  "an unavailable database": {
    status: 503,
    error: "temporarily_unavailable",
    description: "The service is temporarily unavailable.",
    headers: { "retry-after": "1" },
    request: async () => [down, "/userinfo", { headers: { authorization: await bearer("down", {}, down) } }],
  },
  "an unexpected error": {
    status: 500,
    error: "server_error",
    description: "An unexpected error occurred.",
    request: async () => [broken, "/userinfo", { headers: { authorization: await bearer("broken", {}, broken) } }],
  },
  "a stale If-Match (SPEC 5.1)": {
    status: 412,
    error: "precondition_failed",
    description: "The profile was changed by another request.",
    headers: { etag: '"1"' },
    request: async () => {
      const sub = unique("stale");
      await gw.fetch(...((await patch({ nickname: "v1" }, sub)()).slice(1) as [string, RequestInit]));
      return patch({ nickname: "v2" }, sub, main, { "if-match": '"7"' })();
    },
  },
  "an Idempotency-Key used with another body (SPEC 5.2)": {
    status: 422,
    error: "invalid_request",
    description: "Idempotency-Key was used with a different request.",
    request: async () => {
      const sub = unique("idem");
      const key = { "idempotency-key": unique("key") };
      await gw.fetch(...((await patch({ nickname: "first" }, sub, main, key)()).slice(1) as [string, RequestInit]));
      return patch({ nickname: "second" }, sub, main, key)();
    },
  },
  "a malformed Idempotency-Key (SPEC 5.2)": {
    status: 400,
    error: "invalid_request",
    description: "Invalid Idempotency-Key.",
    request: patch({ nickname: "x" }, undefined, main, { "idempotency-key": "not visible" }),
  },
  "an old authentication for an identifier change (SPEC 5.3)": {
    status: 401,
    error: "insufficient_user_authentication",
    description: "A more recent authentication is required.",
    headers: { "www-authenticate": /^Bearer error="insufficient_user_authentication", .*max_age=300$/ },
    request: patch({ email: "step@example.com", email_otp_token: "t", email_otp: "123456" }, undefined, () => stepUp),
  },
  "a method the path does not accept": {
    status: 405,
    error: "invalid_request",
    description: "Method not allowed; use GET, PATCH.",
    headers: { allow: "GET, PATCH" },
    request: async () => [gw, "/userinfo", { method: "DELETE" }],
  },
};

async function answer(request: Case["request"], accept: string | undefined) {
  const [target, path, init] = await request();
  const headers = new Headers(init.headers);
  if (accept !== undefined) headers.set("accept", accept);
  const response = await target.fetch(path, { ...init, headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe("REST errors as RFC 9457 problem details", () => {
  it.each(Object.entries(cases))("renders %s as a problem, and as Tencent's body otherwise", async (_label, c) => {
    const problem = await answer(c.request, PROBLEM);
    const tencent = await answer(c.request, undefined);

    expect(tencent.status).toBe(c.status);
    expect(tencent.headers.get("content-type")).toBe(TENCENT);
    const tencentBody =
      c.description === undefined ? { error: c.error } : { error: c.error, error_description: c.description };
    expect(tencent.text).toBe(JSON.stringify(tencentBody));

    expect(problem.status).toBe(c.status);
    expect(problem.headers.get("content-type")).toBe(PROBLEM);
    const body = JSON.parse(problem.text);
    expect(Object.keys(body)).toEqual(["type", "title", "status", "detail", "error", "error_description"]);
    expect(body).toMatchObject({ type: `urn:userinfo-bff:error:${c.error}`, status: c.status, error: c.error });
    expect(body.detail).toBe(c.description ?? `${body.title}.`);
    expect(body.error_description).toBe(body.detail);
    expect(body.title).toMatch(/^[A-Z][\w -]+$/);
    for (const [name, value] of Object.entries(c.headers ?? {})) {
      for (const headers of [problem.headers, tencent.headers]) {
        if (typeof value === "string") expect(headers.get(name)).toBe(value);
        else expect(headers.get(name)).toMatch(value);
      }
    }
    expect(problem.text).not.toContain("secret internals");
  });

  it("renders a kept answer of an Idempotency-Key in the format each request asks for", async () => {
    const sub = unique("kept");
    const key = { "idempotency-key": unique("key") };
    const first = await answer(patch({ nickname: "  " }, sub, main, key), undefined);
    expect(first.status).toBe(400);
    expect(first.text).toBe('{"error":"illegal_parameter_value"}');
    const replayed = await answer(patch({ nickname: "  " }, sub, main, key), PROBLEM);
    expect(replayed.status).toBe(400);
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(replayed.headers.get("content-type")).toBe(PROBLEM);
    expect(JSON.parse(replayed.text)).toMatchObject({
      type: "urn:userinfo-bff:error:illegal_parameter_value",
      status: 400,
      error: "illegal_parameter_value",
    });
    const again = await answer(patch({ nickname: "  " }, sub, main, key), undefined);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("content-type")).toBe(TENCENT);
  });

  it("renders a whole problem exactly", async () => {
    const { text } = await answer(cases["a malformed email"]!.request, PROBLEM);
    expect(JSON.parse(text)).toEqual({
      type: "urn:userinfo-bff:error:malformed_email",
      title: "Malformed email",
      status: 400,
      detail: "Malformed email.",
      error: "malformed_email",
      error_description: "Malformed email.",
    });
  });

  it("answers 413 from the HTTP layer in the format asked for", async () => {
    const server: Server = createServer(createHttpHandler(gw.app, createMetrics(), createLogger("silent")));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/userinfo`;
      const large = (accept?: string) =>
        fetch(url, {
          method: "PATCH",
          headers: { "content-type": "application/json", ...(accept === undefined ? {} : { accept }) },
          body: JSON.stringify({ nickname: "x".repeat(70_000) }),
        });
      const problem = await large(PROBLEM);
      expect(problem.status).toBe(413);
      expect(problem.headers.get("content-type")).toBe(PROBLEM);
      const body = await problem.clone().json();
      expect(body).toEqual({
        type: "urn:userinfo-bff:error:invalid_request",
        title: "Invalid request",
        status: 413,
        detail: "The request body is too large.",
        error: "invalid_request",
        error_description: "The request body is too large.",
      });
      await expectDocumentedResponse("PATCH", "/userinfo", problem);
      const tencent = await large();
      expect(tencent.status).toBe(413);
      expect(tencent.headers.get("content-type")).toBe(TENCENT);
      expect(await tencent.text()).toBe(
        '{"error":"invalid_request","error_description":"The request body is too large."}',
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("renders the codes of SPEC 5.1-5.3 (conditional requests, idempotency, step-up) from the same mapping", () => {
    const render = (status: number, error: string, description?: string) =>
      JSON.parse(errorBody(status, error, description, "problem").body);
    expect(render(412, "precondition_failed", "The profile was changed by another request.")).toEqual({
      type: "urn:userinfo-bff:error:precondition_failed",
      title: "Precondition failed",
      status: 412,
      detail: "The profile was changed by another request.",
      error: "precondition_failed",
      error_description: "The profile was changed by another request.",
    });
    expect(render(401, "insufficient_user_authentication", "A more recent authentication is required.")).toMatchObject({
      type: "urn:userinfo-bff:error:insufficient_user_authentication",
      title: "A more recent authentication is required",
      status: 401,
    });
    expect(render(409, "invalid_request", "A request with this Idempotency-Key is being processed.")).toMatchObject({
      status: 409,
      detail: "A request with this Idempotency-Key is being processed.",
    });
    expect(render(422, "invalid_request", "Idempotency-Key was used with a different request.")).toMatchObject({
      status: 422,
      error: "invalid_request",
    });
    expect(errorBody(412, "precondition_failed", "x", "tencent")).toEqual({
      contentType: TENCENT,
      body: '{"error":"precondition_failed","error_description":"x"}',
    });
  });

  it.each([
    [undefined, "tencent"],
    ["application/json", "tencent"],
    ["*/*", "tencent"],
    ["application/problem+json", "problem"],
    ["Application/Problem+JSON; charset=utf-8", "problem"],
    ["application/json, application/problem+json", "problem"],
    ["application/problem+json;q=0.5, application/json", "tencent"],
    ["application/problem+json;q=0", "tencent"],
  ] as const)("reads Accept %s as %s", (accept, format) => {
    expect(errorFormatOf(accept)).toBe(format);
  });
});
