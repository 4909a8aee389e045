import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/domain/errors.js";
import type { AppRouter } from "../../src/trpc/router.js";
import { createTestGateway, failingDefinitions, type TestGateway } from "../support/gateway.js";

let gw: TestGateway;
let n = 0;

const UPDATE = `mutation Update($input: UpdateUserInfoInput!) {
  updateUserInfo(input: $input) {
    __typename
    ... on UserInfo { sub name nickname email emailVerified phoneNumber phoneNumberVerified zoneinfo locale updatedAt customAttributes claims }
    ... on Error { code message field }
  }
}`;
const SEND = `mutation Send($input: SendOtpInput!) {
  sendOtp(input: $input) {
    __typename
    ... on SendOtpSuccess { otpToken }
    ... on Error { code message field }
    ... on RateLimitExceededError { retryAfterSeconds }
  }
}`;
const ME = `{ userInfo { sub name nickname email emailVerified phoneNumber phoneNumberVerified zoneinfo locale updatedAt customAttributes claims } }`;

async function graphql(
  authorization: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
  target = gw,
) {
  const response = await target.fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: GraphQL answers are untyped JSON that each test walks into as it asserts
  const body = (await response.json()) as { data?: Record<string, any>; errors?: any[] };
  return { status: response.status, headers: response.headers, body };
}

async function rest(authorization: string | undefined, method: string, path: string, body?: unknown, target = gw) {
  const response = await target.fetch(path, {
    method,
    headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: GraphQL answers are untyped JSON that each test walks into as it asserts
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const graphqlInput = (body: Record<string, unknown>, custom: string[] = []) => {
  const input: Record<string, unknown> = {};
  const customAttributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (custom.includes(key)) customAttributes[key] = value;
    else input[camel(key)] = value;
  }
  return Object.keys(customAttributes).length > 0 ? { ...input, customAttributes } : input;
};

/** The tRPC face for a caller (@trpc/client through the gateway's fetch): what a call returns, or its error. */
function trpc(authorization: string | undefined, target = gw) {
  const client = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: "http://localhost/trpc",
        headers: authorization === undefined ? {} : { authorization },
        fetch: (url, init) => target.fetch(new URL(String(url)).pathname + new URL(String(url)).search, init ?? {}),
      }),
    ],
  });
  const outcome = async <T>(call: (c: typeof client) => Promise<T>) => {
    try {
      return { ok: true as const, value: await call(client) };
    } catch (error) {
      if (!(error instanceof TRPCClientError)) throw error;
      // biome-ignore lint/suspicious/noExplicitAny: error data is untyped JSON that each test walks into as it asserts
      return { ok: false as const, message: error.message, data: error.data as Record<string, any> };
    }
  };
  return { client, outcome };
}

/** A user's row without what differs between two users by construction. */
async function stateOf(sub: string, target = gw) {
  const row = await target.prisma.user.findUnique({ where: { sub } });
  if (row === null) return null;
  const { sub: _sub, createdAt: _c, ...rest } = row;
  return { ...rest, email: rest.email?.replace(sub, "SUB") ?? null };
}

/**
 * Runs one scenario through REST (user A) and GraphQL (user B) and returns both outcomes:
 * `prepare` makes the request body for a user.
 */
async function both(prepare: (sub: string) => Promise<Record<string, unknown>>, custom: string[] = [], target = gw) {
  const restSub = `rest-${++n}`;
  const graphqlSub = `graphql-${n}`;
  const restBody = await prepare(restSub);
  const graphqlBody = await prepare(graphqlSub);
  const restResult = await rest(`Bearer ${await target.token(restSub)}`, "PATCH", "/userinfo", restBody, target);
  const graphqlResult = await graphql(
    `Bearer ${await target.token(graphqlSub)}`,
    UPDATE,
    { input: graphqlInput(graphqlBody, custom) },
    target,
  );
  return {
    restSub,
    graphqlSub,
    rest: restResult,
    graphql: graphqlResult,
    result: graphqlResult.body.data?.updateUserInfo,
  };
}

beforeAll(async () => {
  gw = await createTestGateway();
  await gw.store.customAttributes.save({ name: "team", type: "string", pattern: "[a-z]+", writable: true });
  await gw.store.customAttributes.save({ name: "tier", type: "string", pattern: null, writable: false });
});
afterAll(() => gw?.close());

describe("updateUserInfo and PATCH /userinfo give the same outcome", () => {
  it("succeeds with the same claims and the same stored state", async () => {
    const outcome = await both(
      async () => ({ name: " Ada ", nickname: "ada", locale: "en_US", zoneinfo: "asia/shanghai", team: "core" }),
      ["team"],
    );
    expect(outcome.rest.status).toBe(200);
    expect(outcome.graphql.status).toBe(200);
    expect(outcome.result.__typename).toBe("UserInfo");
    expect({ ...outcome.result.claims, sub: "X" }).toEqual({ ...outcome.rest.body, sub: "X" });
    expect(outcome.result).toMatchObject({
      sub: outcome.graphqlSub,
      name: "Ada",
      nickname: "ada",
      locale: "en-US",
      zoneinfo: "Asia/Shanghai",
      email: null,
      emailVerified: null,
      customAttributes: { team: "core" },
      updatedAt: outcome.rest.body.updated_at,
    });
    expect(await stateOf(outcome.graphqlSub)).toEqual(await stateOf(outcome.restSub));
  });

  it("removes attributes set to null", async () => {
    const restSub = `rest-${++n}`;
    const graphqlSub = `graphql-${n}`;
    for (const sub of [restSub, graphqlSub])
      await rest(`Bearer ${await gw.token(sub)}`, "PATCH", "/userinfo", { name: "x", team: "abc" });
    await rest(`Bearer ${await gw.token(restSub)}`, "PATCH", "/userinfo", { name: null, team: null });
    const result = await graphql(`Bearer ${await gw.token(graphqlSub)}`, UPDATE, {
      input: { name: null, customAttributes: { team: null } },
    });
    expect(result.body.data?.updateUserInfo).toMatchObject({ name: null, customAttributes: {} });
    expect(await stateOf(graphqlSub)).toEqual(await stateOf(restSub));
  });

  it("changes the email with an OTP the same way", async () => {
    const outcome = await both(async (sub) => {
      const otp = await gw.otp("email", `${sub}@example.com`, { sub });
      return { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    });
    expect(outcome.rest.body).toMatchObject({ email_verified: true });
    expect(outcome.result).toMatchObject({
      __typename: "UserInfo",
      email: `${outcome.graphqlSub}@example.com`,
      emailVerified: true,
    });
    expect(await stateOf(outcome.graphqlSub)).toEqual(await stateOf(outcome.restSub));
  });

  const failures: [
    string,
    string,
    string | null,
    string,
    (sub: string) => Promise<Record<string, unknown>>,
    string[]?,
  ][] = [
    [
      "an unknown attribute",
      "InvalidRequestError",
      null,
      "invalid_request",
      async () => ({ nickname: "x", nope: 1 }),
      ["nope"],
    ],
    [
      "a read-only custom attribute",
      "InvalidRequestError",
      null,
      "invalid_request",
      async () => ({ tier: "gold" }),
      ["tier"],
    ],
    [
      "a missing companion",
      "InvalidRequestError",
      "email",
      "invalid_request",
      async () => ({ email: "a@example.com", email_otp: "1" }),
    ],
    [
      "a malformed phone number",
      "MalformedAddressError",
      "phoneNumber",
      "malformed_phone_number",
      async () => ({ phone_number: "123", phone_number_otp_token: "t", phone_number_otp: "1" }),
    ],
    [
      "a malformed email",
      "MalformedAddressError",
      "email",
      "malformed_email",
      async () => ({ email: "nope", email_otp_token: "t", email_otp: "1" }),
    ],
    [
      "an illegal value",
      "IllegalParameterValueError",
      "nickname",
      "illegal_parameter_value",
      async () => ({ nickname: "   " }),
    ],
    [
      "a custom regex failure",
      "IllegalParameterValueError",
      "team",
      "illegal_parameter_value",
      async () => ({ team: "CORE" }),
      ["team"],
    ],
    [
      "an unknown OTP token",
      "BadOtpTokenError",
      "emailOtpToken",
      "bad_email_otp_token",
      async (sub) => ({ email: `${sub}@example.com`, email_otp_token: "nope", email_otp: "123456" }),
    ],
    [
      "a wrong OTP code",
      "BadOtpError",
      "phoneNumberOtp",
      "bad_phone_number_otp",
      async (sub) => {
        const otp = await gw.otp("sms", "13500135000", { sub });
        return { phone_number: "13500135000", phone_number_otp_token: otp.token, phone_number_otp: "000000" };
      },
    ],
    [
      "a duplicate email",
      "DuplicateAddressError",
      "email",
      "duplicate_email",
      async (sub) => {
        const otp = await gw.otp("email", "taken@example.com", { sub });
        return { email: "Taken@Example.com", email_otp_token: otp.token, email_otp: otp.code };
      },
    ],
  ];

  it.each(failures)("fails the same way on %s", async (_label, typename, field, code, prepare, custom) => {
    if ((await gw.store.users.holderOf("email", "taken@example.com")) === null) {
      await gw.store.users.create({ sub: "holder", email: "taken@example.com", createdAt: gw.clock.now() });
    }
    const outcome = await both(prepare, custom);
    expect(outcome.rest.status).toBe(400);
    expect(outcome.rest.body.error).toBe(code);
    expect(outcome.graphql.status).toBe(200);
    expect(outcome.result).toMatchObject({ __typename: typename, code, field });
    expect(typeof outcome.result.message).toBe("string");
    if (outcome.rest.body.error_description !== undefined)
      expect(outcome.result.message).toBe(outcome.rest.body.error_description);
    expect(await stateOf(outcome.graphqlSub)).toEqual(await stateOf(outcome.restSub));
  });

  it.each(failures)(
    "fails the same way on tRPC on %s",
    async (_label, _typename, field, code, prepare, custom = []) => {
      const restSub = `rest-${++n}`;
      const trpcSub = `trpc-${n}`;
      const restResult = await rest(`Bearer ${await gw.token(restSub)}`, "PATCH", "/userinfo", await prepare(restSub));
      const input = graphqlInput(await prepare(trpcSub), custom);
      const result = await trpc(`Bearer ${await gw.token(trpcSub)}`).outcome((c) =>
        c.updateUserInfo.mutate(input as Parameters<typeof c.updateUserInfo.mutate>[0]),
      );
      expect(restResult.body.error).toBe(code);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, error: code });
      expect(result.data.field ?? null).toBe(field);
      if (restResult.body.error_description !== undefined)
        expect(result.message).toBe(restResult.body.error_description);
      expect(await stateOf(trpcSub)).toEqual(await stateOf(restSub));
    },
  );

  it("treats a custom attribute named like a built-in as unknown, never as the built-in", async () => {
    const token = `Bearer ${await gw.token(`builtin-${++n}`)}`;
    for (const name of ["sub", "email", "email_verified", "__proto__", "constructor"]) {
      const result = await graphql(token, UPDATE, { input: { customAttributes: { [name]: "x" } } });
      expect(result.body.data?.updateUserInfo).toEqual({
        __typename: "InvalidRequestError",
        code: "invalid_request",
        message: "Unknown attribute(s) found.",
        field: null,
      });
    }
  });

  it("reports user_not_found the same way without just-in-time provisioning", async () => {
    const strict = await createTestGateway({ env: { JIT_PROVISIONING: "false" }, database: gw.database });
    try {
      const outcome = await both(async () => ({ nickname: "ghost" }), [], strict);
      expect(outcome.rest).toMatchObject({ status: 404, body: { error: "user_not_found" } });
      expect(outcome.result).toMatchObject({ __typename: "UserNotFoundError", code: "user_not_found", field: null });
      const me = await graphql(`Bearer ${await strict.token("ghost")}`, ME, {}, strict);
      expect(me.body).toEqual({ data: { userInfo: null } });
      expect(await strict.prisma.user.count({ where: { sub: { in: [outcome.restSub, outcome.graphqlSub] } } })).toBe(0);
    } finally {
      await strict.close();
    }
  });
});

describe("userInfo and GET /userinfo", () => {
  it("returns the same claims, filtered for the application, absent ones null", async () => {
    await gw.store.applications.save({ clientId: "narrow", secretHash: null, claims: ["nickname"] });
    const sub = `me-${++n}`;
    await rest(`Bearer ${await gw.token(sub)}`, "PATCH", "/userinfo", {
      name: "Hidden",
      nickname: "Shown",
      team: "abc",
    });
    const token = `Bearer ${await gw.token(sub, { clientId: "narrow" })}`;
    const restResult = await rest(token, "GET", "/userinfo");
    const graphqlResult = await graphql(token, ME);
    expect(graphqlResult.body.data?.userInfo).toEqual({
      sub,
      name: null,
      nickname: "Shown",
      email: null,
      emailVerified: null,
      phoneNumber: null,
      phoneNumberVerified: null,
      zoneinfo: null,
      locale: null,
      updatedAt: null,
      customAttributes: {},
      claims: restResult.body,
    });
    expect(restResult.body).toEqual({ sub, nickname: "Shown" });
  });
});

describe("authentication failures", () => {
  const cases: [string, () => Promise<string | undefined>, number, string, string][] = [
    ["no token", async () => undefined, 400, "UNAUTHENTICATED", "invalid_request"],
    ["a token that is not a JWT", async () => "Bearer nope", 401, "UNAUTHENTICATED", "invalid_token"],
    [
      "a token without openid",
      async () => `Bearer ${await gw.token("scope-user", { scope: "profile" })}`,
      403,
      "FORBIDDEN",
      "insufficient_scope",
    ],
  ];

  it.each(cases)(
    "answers %s with the REST status and challenge",
    async (_label, authorization, status, code, error) => {
      const header = await authorization();
      const restResult = await rest(header, "GET", "/userinfo");
      for (const query of [
        ME,
        `mutation { updateUserInfo(input: { nickname: "x" }) { __typename } }`,
        `mutation { sendOtp(input: { email: "a@b.c" }) { __typename } }`,
      ]) {
        const result = await graphql(header, query);
        expect(result.status).toBe(status);
        expect(result.headers.get("www-authenticate")).toBe(restResult.headers.get("www-authenticate"));
        expect(result.body.errors).toHaveLength(1);
        expect(result.body.errors![0]).toMatchObject({
          message: restResult.body.error_description,
          extensions: { code, error },
        });
        expect(result.body.errors![0].extensions).not.toHaveProperty("http");
      }
      expect(restResult.status).toBe(status);
    },
  );

  it.each(cases)(
    "answers %s on tRPC with the REST status, code and message",
    async (_label, authorization, status, _code, error) => {
      const header = await authorization();
      const restResult = await rest(header, "GET", "/userinfo");
      const face = trpc(header);
      const calls: ((c: typeof face.client) => Promise<unknown>)[] = [
        (c) => c.userInfo.query(),
        (c) => c.updateUserInfo.mutate({ nickname: "x" }),
        (c) => c.sendOtp.mutate({ email: "a@b.c" }),
      ];
      for (const call of calls) {
        const result = await face.outcome(call);
        expect(result).toMatchObject({
          ok: false,
          message: restResult.body.error_description,
          data: { httpStatus: status, error },
        });
      }
      expect(restResult.status).toBe(status);
    },
  );
});

describe("sendOtp and POST /otp/send (Bearer form)", () => {
  it("issue tokens that work, and share the rate limits", async () => {
    const sub = `otp-${++n}`;
    const token = `Bearer ${await gw.token(sub)}`;
    const sent = await graphql(token, SEND, { input: { email: `${sub}@example.com` } });
    expect(sent.body.data?.sendOtp.__typename).toBe("SendOtpSuccess");
    const code = gw.delivered.at(-1)!.code;
    expect(await gw.prisma.otpChallenge.findFirst({ where: { target: `${sub}@example.com` } })).toMatchObject({
      usage: "update_userinfo",
      userSub: sub,
    });

    const again = await rest(token, "POST", "/otp/send", { usage: "update_userinfo", email: `${sub}@example.com` });
    expect(again.status).toBe(400);
    expect(again.headers.get("retry-after")).toBe("30");
    const limited = await graphql(token, SEND, { input: { email: `${sub}@example.com`, usage: "UPDATE_USERINFO" } });
    expect(limited.body.data?.sendOtp).toEqual({
      __typename: "RateLimitExceededError",
      code: "email_rate_limit_exceeded",
      message: "Email rate limit exceeded for same email",
      field: null,
      retryAfterSeconds: 30,
    });

    const changed = await graphql(token, UPDATE, {
      input: { email: `${sub}@example.com`, emailOtpToken: sent.body.data?.sendOtp.otpToken, emailOtp: code },
    });
    expect(changed.body.data?.updateUserInfo).toMatchObject({ __typename: "UserInfo", emailVerified: true });
  });

  it.each([
    [{ email: "a@b.c", phoneNumber: "13800138000" }, "InvalidRequestError", "invalid_request", null],
    [{ usage: "LOGIN", email: "a@b.c" }, "InvalidRequestError", "invalid_request", "usage"],
    [{ phoneNumber: "+1 555" }, "MalformedAddressError", "malformed_phone_number", "phoneNumber"],
  ])("fails like REST for %j", async (input, typename, code, field) => {
    const token = `Bearer ${await gw.token(`otp-${++n}`)}`;
    const result = await graphql(token, SEND, { input });
    expect(result.body.data?.sendOtp).toMatchObject({ __typename: typename, code, field });
    const body: Record<string, unknown> = {
      usage: String("usage" in input ? input.usage : "UPDATE_USERINFO").toLowerCase(),
    };
    if ("email" in input) body.email = input.email;
    if ("phoneNumber" in input) body.phone_number = input.phoneNumber;
    expect((await rest(token, "POST", "/otp/send", body)).body.error).toBe(code);
  });
});

describe("unexpected failures", () => {
  it("masks unexpected errors on both faces", async () => {
    const broken = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new Error("secret internals at /srv/app.ts:12")),
    });
    try {
      const token = `Bearer ${await broken.token("masked")}`;
      const restResult = await rest(token, "GET", "/userinfo", undefined, broken);
      expect(restResult).toMatchObject({
        status: 500,
        body: { error: "server_error", error_description: "An unexpected error occurred." },
      });
      const result = await graphql(token, ME, {}, broken);
      expect(result.body.errors![0].message).toBe("Unexpected error.");
      expect(JSON.stringify(result.body)).not.toContain("secret internals");
    } finally {
      await broken.close();
    }
  });

  it("answers 503 on both faces when the database is unavailable", async () => {
    const down = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new UnavailableError("the database is unavailable")),
    });
    try {
      const token = `Bearer ${await down.token("down")}`;
      const restResult = await rest(token, "GET", "/userinfo", undefined, down);
      expect(restResult).toMatchObject({ status: 503, body: { error: "temporarily_unavailable" } });
      const result = await graphql(token, ME, {}, down);
      expect(result.status).toBe(503);
      expect(result.body.errors![0]).toMatchObject({
        message: "The service is temporarily unavailable.",
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    } finally {
      await down.close();
    }
  });
});

describe("GraphiQL", () => {
  it("opens on GET /graphql in development with the demo authorization filled in", async () => {
    const dev = await createTestGateway({
      database: gw.database,
      graphiql: { render: renderGraphiQL, authorization: "Bearer demo.token.value" },
    });
    try {
      const response = await dev.fetch("/graphql", { headers: { accept: "text/html" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/html");
      const html = await response.text();
      expect(html).toContain("Bearer demo.token.value");
      expect(html).toContain("mutation UpdateNickname");
      expect(html).not.toContain("unpkg.com");
    } finally {
      await dev.close();
    }
  });

  it("is off when not configured (production default)", async () => {
    const response = await gw.fetch("/graphql", { headers: { accept: "text/html" } });
    expect(response.headers.get("content-type") ?? "").not.toContain("text/html");
  });
});

describe("the third face: tRPC gives the same outcome as REST and GraphQL", () => {
  it("updates with the same claims and the same stored state", async () => {
    const restSub = `rest-${++n}`;
    const trpcSub = `trpc-${n}`;
    const body = { name: " Ada ", nickname: "ada", locale: "en_US", zoneinfo: "asia/shanghai", team: "core" };
    const restResult = await rest(`Bearer ${await gw.token(restSub)}`, "PATCH", "/userinfo", body);
    const result = await trpc(`Bearer ${await gw.token(trpcSub)}`).outcome((c) =>
      c.updateUserInfo.mutate({ ...graphqlInput(body, ["team"]) } as Parameters<typeof c.updateUserInfo.mutate>[0]),
    );
    expect(result).toMatchObject({
      ok: true,
      value: {
        sub: trpcSub,
        name: "Ada",
        nickname: "ada",
        locale: "en-US",
        zoneinfo: "Asia/Shanghai",
        customAttributes: { team: "core" },
        updatedAt: restResult.body.updated_at,
      },
    });
    expect(await stateOf(trpcSub)).toEqual(await stateOf(restSub));

    // Reading: the same claims as GET /userinfo and GraphQL's userInfo.
    const token = `Bearer ${await gw.token(trpcSub)}`;
    const read = await trpc(token).outcome((c) => c.userInfo.query());
    const graphqlRead = await graphql(token, ME);
    expect(read).toMatchObject({ ok: true, value: { sub: trpcSub, name: "Ada", nickname: "ada" } });
    expect(graphqlRead.body.data?.userInfo).toMatchObject({
      sub: trpcSub,
      name: "Ada",
      updatedAt: restResult.body.updated_at,
    });
  });

  it("sends a code and changes the email as the other faces do", async () => {
    const restSub = `rest-${++n}`;
    const trpcSub = `trpc-${n}`;
    const restToken = `Bearer ${await gw.token(restSub)}`;
    const sentRest = await rest(restToken, "POST", "/otp/send", {
      usage: "update_userinfo",
      email: `${restSub}@example.com`,
    });
    const restCode = gw.delivered.at(-1)!.code;
    await rest(restToken, "PATCH", "/userinfo", {
      email: `${restSub}@example.com`,
      email_otp_token: sentRest.body.otp_token,
      email_otp: restCode,
    });
    const face = trpc(`Bearer ${await gw.token(trpcSub)}`);
    const sent = await face.client.sendOtp.mutate({ email: `${trpcSub}@example.com` });
    const changed = await face.client.updateUserInfo.mutate({
      email: `${trpcSub}@example.com`,
      emailOtpToken: sent.otpToken,
      emailOtp: gw.delivered.at(-1)!.code,
    });
    expect(changed).toMatchObject({ email: `${trpcSub}@example.com`, emailVerified: true });
    expect(await stateOf(trpcSub)).toEqual(await stateOf(restSub));
  });

  it.each([
    [{ email: "a@b.c", phoneNumber: "13800138000" }, "invalid_request", undefined],
    [{ usage: "login", email: "a@b.c" }, "invalid_request", "usage"],
    [{ phoneNumber: "+1 555" }, "malformed_phone_number", "phoneNumber"],
  ] as const)("fails sendOtp like REST for %j", async (input, code, field) => {
    const token = `Bearer ${await gw.token(`otp-${++n}`)}`;
    const result = await trpc(token).outcome((c) => c.sendOtp.mutate(input));
    expect(result).toMatchObject({ ok: false, data: { code: "BAD_REQUEST", error: code } });
    if (!result.ok) expect(result.data.field).toBe(field);
    const body: Record<string, unknown> = { usage: "usage" in input ? input.usage : "update_userinfo" };
    if ("email" in input) body.email = input.email;
    if ("phoneNumber" in input) body.phone_number = input.phoneNumber;
    expect((await rest(token, "POST", "/otp/send", body)).body.error).toBe(code);
  });

  it("reports user_not_found, masks unexpected errors and answers 503 as the other faces", async () => {
    const strict = await createTestGateway({ env: { JIT_PROVISIONING: "false" }, database: gw.database });
    const broken = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new Error("secret internals")),
    });
    const down = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new UnavailableError("down")),
    });
    try {
      const ghost = trpc(`Bearer ${await strict.token("ghost")}`, strict);
      expect(await ghost.outcome((c) => c.userInfo.query())).toEqual({ ok: true, value: null });
      expect(await ghost.outcome((c) => c.updateUserInfo.mutate({ nickname: "ghost" }))).toMatchObject({
        ok: false,
        data: { httpStatus: 404, error: "user_not_found" },
      });
      const masked = await trpc(`Bearer ${await broken.token("m")}`, broken).outcome((c) => c.userInfo.query());
      expect(masked).toMatchObject({
        ok: false,
        message: "An unexpected error occurred.",
        data: { httpStatus: 500, error: "server_error" },
      });
      expect(JSON.stringify(masked)).not.toContain("secret internals");
      const unavailable = await trpc(`Bearer ${await down.token("d")}`, down).outcome((c) => c.userInfo.query());
      expect(unavailable).toMatchObject({ ok: false, data: { httpStatus: 503, error: "temporarily_unavailable" } });
    } finally {
      await Promise.all([strict.close(), broken.close(), down.close()]);
    }
  });
});
