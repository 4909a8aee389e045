import { Writable } from "node:stream";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createApp } from "../src/app.js";
import { localKeys } from "../src/auth/bearer.js";
import { hashClientSecret } from "../src/auth/client-secrets.js";
import { UnavailableError } from "../src/domain/errors.js";
import { createLogger } from "../src/logger.js";
import { translateDatabaseError } from "../src/persistence/database.js";
import { createTestGateway, jsonRequest, type TestGateway } from "./support/gateway.js";

// The classes of input an attack run found to get past the defences (issue 11), each tried on both faces.

let gw: TestGateway;
let n = 0;
const fresh = (prefix = "hard") => `${prefix}-${++n}-${process.pid}`;

beforeAll(async () => {
  gw = await createTestGateway({ env: { TRUST_PROXY: "true" } });
  await gw.store.customAttributes.save({ name: "motto", type: "string", pattern: null, writable: true });
  // Not "web": the tokens of this file are issued to "web", which reads every claim while it is not registered.
  await gw.store.applications.save({
    clientId: "mobile",
    secretHash: await hashClientSecret("mobile-secret"),
    claims: [],
  });
  await gw.store.applications.save({
    clientId: "other",
    secretHash: await hashClientSecret("other-secret"),
    claims: [],
  });
});
afterAll(() => gw?.close());

const patchRaw = async (sub: string, raw: string) => {
  const response = await gw.fetch("/userinfo", {
    method: "PATCH",
    headers: { authorization: `Bearer ${await gw.token(sub)}`, "content-type": "application/json" },
    body: raw,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const graphql = async (sub: string, query: string, variables: Record<string, unknown> = {}) => {
  const response = await gw.fetch("/graphql", {
    method: "POST",
    headers: { authorization: `Bearer ${await gw.token(sub)}`, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: GraphQL answers are untyped JSON that each test walks into as it asserts
  return (await response.json()) as { data?: any; errors?: { message: string }[] };
};

const UPDATE = `mutation($input: UpdateUserInfoInput!) { updateUserInfo(input: $input) { __typename ... on Error { code field } ... on UserInfo { nickname customAttributes } } }`;

const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`;
const sendOtp = async (
  authorization: string,
  address: string,
  body: unknown = { usage: "login", email: `${fresh("t")}@example.com` },
) => {
  const response = await gw.fetch("/otp/send", {
    method: "POST",
    headers: { authorization, "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: (await response.json()) as Record<string, unknown>,
  };
};

describe("failed Basic authentications are throttled before the secret is hashed", () => {
  it("per client id: 10 failures a minute, then 429 with Retry-After; other clients keep working", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await sendOtp(basic("mobile", `wrong-${i}`), `198.51.100.${i + 1}`)).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    const throttled = await sendOtp(basic("mobile", "mobile-secret"), "198.51.100.99");
    expect(throttled).toMatchObject({ status: 429, body: { error: "too_many_requests" }, retryAfter: "60" });
    expect((await sendOtp(basic("other", "other-secret"), "198.51.100.1")).status).toBe(200);
    gw.clock.advance(30);
    expect((await sendOtp(basic("mobile", "mobile-secret"), "198.51.100.99")).retryAfter).toBe("30");
    gw.clock.advance(31);
    expect((await sendOtp(basic("mobile", "mobile-secret"), "198.51.100.99")).status).toBe(200);
  });

  it("per address: 20 failures a minute across client ids, then 429 for that address only", async () => {
    gw.clock.advance(120);
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await sendOtp(basic(`made-up-${i}`, "x"), "203.0.113.50")).status);
    expect(statuses).toEqual([...Array(20).fill(401), 429]);
    expect((await sendOtp(basic("mobile", "mobile-secret"), "203.0.113.50")).status).toBe(429);
    expect((await sendOtp(basic("mobile", "mobile-secret"), "203.0.113.51")).status).toBe(200);
  });

  it("bounds a burst of concurrent failures like a sequence of them", async () => {
    gw.clock.advance(120);
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) => sendOtp(basic("burst-client", `bad-${i}`), `192.0.2.${i + 1}`)),
    );
    expect(burst.filter((r) => r.status === 401)).toHaveLength(10);
    expect(burst.filter((r) => r.status === 429)).toHaveLength(20);
  });
});

describe("email addresses: one spelling per mailbox (SPEC 1.1)", () => {
  const companions = { email_otp_token: "t", email_otp: "123456" };
  it.each([
    ['"alice"@example.com'],
    ['"al\\ice"@example.com'],
    ["alice(comment)@example.com"],
    ["a@[127.0.0.1]"],
    [`${"a".repeat(65)}@example.com`],
    [`a@${"b".repeat(64)}.com`],
    ["a@-b.com"],
    ["ali ce@example.com"],
  ])("refuses %s on PATCH, GraphQL and POST /otp/send", async (email) => {
    const rest = await patchRaw(fresh(), JSON.stringify({ email, ...companions }));
    expect(rest).toEqual({ status: 400, body: { error: "malformed_email" } });
    const viaGraphql = await graphql(fresh(), UPDATE, { input: { email, emailOtpToken: "t", emailOtp: "123456" } });
    expect(viaGraphql.data.updateUserInfo).toEqual({
      __typename: "MalformedAddressError",
      code: "malformed_email",
      field: "email",
    });
    expect((await sendOtp(basic("other", "other-secret"), "192.0.2.200", { usage: "login", email })).body).toEqual({
      error: "malformed_email",
    });
  });

  it("accepts a 64-character local part", async () => {
    expect(
      (
        await sendOtp(basic("other", "other-secret"), "192.0.2.201", {
          usage: "login",
          email: `${"a".repeat(64)}@example.com`,
        })
      ).status,
    ).toBe(200);
  });
});

describe("strings that are not well-formed UTF-16", () => {
  it.each([["name"], ["nickname"], ["motto"]])(
    "refuses a lone surrogate in %s with illegal_parameter_value and stores nothing",
    async (key) => {
      const sub = fresh("surrogate");
      const rest = await patchRaw(sub, `{"${key}": "ab\\ud800cd"}`);
      expect(rest).toEqual({ status: 400, body: { error: "illegal_parameter_value" } });
      expect(await gw.prisma.user.findUnique({ where: { sub } })).toBeNull();
      const input = key === "motto" ? { customAttributes: { motto: "ab\ud800cd" } } : { [key]: "ab\udc00" };
      const viaGraphql = await graphql(sub, UPDATE, { input });
      expect(viaGraphql.data.updateUserInfo).toMatchObject({
        __typename: "IllegalParameterValueError",
        code: "illegal_parameter_value",
      });
      expect(await gw.prisma.auditEvent.count({ where: { sub } })).toBe(0);
    },
  );

  it("writes nothing of such a body to the log: no error, no fragment", async () => {
    let output = "";
    const control = fresh("control");
    const logged = await createTestGateway({
      database: gw.database,
      // The control: a failure that is logged, so that an empty log means nothing was written, not a deaf logger.
      wrapStore: (store) => ({
        ...store,
        users: {
          ...store.users,
          write: (sub, changes, options) =>
            sub === control ? Promise.reject(new Error("control failure")) : store.users.write(sub, changes, options),
        },
      }),
      log: createLogger(
        "debug",
        new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            output += chunk.toString();
            done();
          },
        }),
      ),
    });
    try {
      const sub = fresh("quiet");
      const response = await logged.fetch("/userinfo", {
        method: "PATCH",
        headers: { authorization: `Bearer ${await logged.token(sub)}`, "content-type": "application/json" },
        body: '{"nickname": "secret-fragment\\ud800"}',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: "illegal_parameter_value" });
      expect(output).not.toContain("secret-fragment");
      expect(output).not.toMatch(/"level":(40|50|60)/);
      const failed = await logged.fetch("/userinfo", {
        method: "PATCH",
        headers: { authorization: `Bearer ${await logged.token(control)}`, "content-type": "application/json" },
        body: '{"nickname": "control"}',
      });
      expect(failed.status).toBe(500);
      expect(output).toContain("control failure");
    } finally {
      await logged.close();
    }
  });

  it("keeps well-formed text beyond the BMP", async () => {
    const sub = fresh("emoji");
    const rest = await patchRaw(sub, JSON.stringify({ nickname: "😀 ok", motto: "𝄞" }));
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ nickname: "😀 ok", motto: "𝄞" });
  });
});

describe("GraphQL JSON literals behave as JSON variables do", () => {
  it("applies a variable nested in a customAttributes literal", async () => {
    const sub = fresh("literal");
    const result = await graphql(
      sub,
      `mutation($m: JSON) { updateUserInfo(input: { customAttributes: { motto: $m } }) { __typename ... on UserInfo { customAttributes } } }`,
      { m: "carpe diem" },
    );
    expect(result.data.updateUserInfo).toEqual({ __typename: "UserInfo", customAttributes: { motto: "carpe diem" } });
  });

  it("refuses __proto__ inside a literal as an unknown attribute, like REST", async () => {
    const sub = fresh("proto");
    const viaLiteral = await graphql(
      sub,
      `mutation { updateUserInfo(input: { customAttributes: { __proto__: { motto: "x" } } }) { __typename ... on Error { code message } } }`,
    );
    expect(viaLiteral.data.updateUserInfo).toEqual({
      __typename: "InvalidRequestError",
      code: "invalid_request",
      message: "Unknown attribute(s) found.",
    });
    const viaVariable = await graphql(sub, UPDATE, {
      input: JSON.parse('{"customAttributes": {"__proto__": {"motto": "x"}}}'),
    });
    expect(viaVariable.data.updateUserInfo).toMatchObject({ code: "invalid_request" });
    expect(await patchRaw(sub, '{"__proto__": {"motto": "x"}}')).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Unknown attribute(s) found." },
    });
  });
});

describe("access tokens (SPEC 6)", () => {
  let key: CryptoKey;
  let app: ReturnType<typeof createApp>;
  const ISSUER = "https://issuer.hardening";

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "h1", alg: "ES256" };
    app = createApp({
      config: { ...gw.config, auth: { ...gw.config.auth, issuer: ISSUER, devIssuer: false } },
      store: gw.store,
      clock: gw.clock,
      random: gw.random,
      sender: { send: async () => undefined },
      log: createLogger("silent"),
      keys: localKeys({ keys: [jwk] }),
      devJwks: undefined,
    });
  });

  const sign = (sub: string, { exp = true } = {}) => {
    const now = Math.floor(gw.clock.now().getTime() / 1000);
    const jwt = new SignJWT({ scope: "openid" })
      .setProtectedHeader({ alg: "ES256", kid: "h1" })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setIssuedAt(now);
    if (exp) jwt.setExpirationTime(now + 600);
    return jwt.sign(key);
  };
  const get = async (jwt: string) => {
    const response = await app.yoga.fetch(
      new Request("http://localhost/userinfo", { headers: { authorization: `Bearer ${jwt}` } }),
    );
    return {
      status: response.status,
      challenge: response.headers.get("www-authenticate"),
      body: await response.json(),
    };
  };

  it("requires exp", async () => {
    const result = await get(await sign("no-expiry"));
    expect(result.status).toBe(200);
    const forever = await get(await sign("no-expiry", { exp: false }));
    expect(forever.status).toBe(401);
    expect(forever.body).toEqual({ error: "invalid_token", error_description: "The access token has no expiry" });
  });

  it.each([["with\u0000nul"], ["lone\ud800surrogate"], ["tab\there"], ["x".repeat(256)]])(
    "refuses the subject %j with 401 invalid_token",
    async (sub) => {
      const result = await get(await sign(sub));
      expect(result.status).toBe(401);
      expect(result.body).toEqual({
        error: "invalid_token",
        error_description: "The access token has no valid subject",
      });
    },
  );

  it("accepts a 255-character subject and one beyond the BMP", async () => {
    expect((await get(await sign("y".repeat(255)))).status).toBe(200);
    expect((await get(await sign("用户😀"))).status).toBe(200);
  });
});

describe("a target's daily budget cannot be spent by one requester", () => {
  it("lets users together spend half of it, each user a tenth; the application keeps the rest", async () => {
    const strict = await createTestGateway({
      database: gw.database,
      clock: gw.clock,
      env: { OTP_TARGET_INTERVAL_SECONDS: "1", OTP_TARGET_DAILY_LIMIT: "20" },
    });
    try {
      await strict.store.applications.save({
        clientId: "web",
        secretHash: await hashClientSecret("web-secret"),
        claims: [],
      });
      const victim = `${fresh("victim")}@example.com`;
      const byUser = async (sub: string) => {
        strict.clock.advance(2);
        const response = await strict.fetch(
          "/otp/send",
          jsonRequest("POST", await strict.token(sub), { usage: "update_userinfo", email: victim }),
        );
        return response.status;
      };
      const attacker = fresh("attacker");
      const own = [];
      for (let i = 0; i < 3; i++) own.push(await byUser(attacker));
      expect(own).toEqual([200, 200, 400]);
      const helpers = [];
      for (let i = 0; i < 5; i++) helpers.push(await byUser(fresh("helper")), await byUser(fresh("helper")));
      expect(helpers.filter((s) => s === 200)).toHaveLength(8);
      strict.clock.advance(2);
      const login = await strict.fetch("/otp/send", {
        method: "POST",
        headers: { authorization: basic("web", "web-secret"), "content-type": "application/json" },
        body: JSON.stringify({ usage: "login", email: victim }),
      });
      expect(login.status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});

describe("a database that refuses connections (SQLSTATE class 55, SPEC 6)", () => {
  it("answers 503 on REST and GraphQL while it refuses, and serves again once it accepts", async () => {
    const refusing = await createTestGateway();
    const name = new URL(refusing.database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: inject("databaseServerUrl") });
    await admin.connect();
    const sub = fresh("refused");
    const patch = async () => {
      const response = await refusing.fetch("/userinfo", {
        method: "PATCH",
        headers: { authorization: `Bearer ${await refusing.token(sub)}`, "content-type": "application/json" },
        body: JSON.stringify({ nickname: "kept" }),
      });
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
    };
    try {
      expect((await patch()).status).toBe(200);
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);

      // What a new connection of the gateway's pool gets now: 55000, "not currently accepting connections".
      const refusal = await new pg.Client({ connectionString: refusing.database.url }).connect().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refusal).toMatchObject({ code: "55000" });
      expect(translateDatabaseError(refusal)).toBeInstanceOf(UnavailableError);

      for (let attempt = 0; attempt < 3; attempt++) {
        expect(await patch()).toEqual({
          status: 503,
          retryAfter: "1",
          body: { error: "temporarily_unavailable", error_description: expect.any(String) },
        });
      }
      const response = await refusing.fetch("/graphql", {
        method: "POST",
        headers: { authorization: `Bearer ${await refusing.token(sub)}`, "content-type": "application/json" },
        body: JSON.stringify({ query: "{ userInfo { nickname } }" }),
      });
      expect(response.status).toBe(503);
      const answer = (await response.json()) as { errors: { extensions: { code: string } }[] };
      expect(answer.errors[0]!.extensions.code).toBe("SERVICE_UNAVAILABLE");

      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      expect(await patch()).toMatchObject({ status: 200, body: { sub, nickname: "kept" } });
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
      await refusing.close();
    }
  });
});

describe("a pool with no connection to give (pg-pool's connection timeout, SPEC 6)", () => {
  it("is an unavailable database, answered 503: pg-pool's error carries no SQLSTATE", async () => {
    const pool = new pg.Pool({ connectionString: gw.database.url, max: 1, connectionTimeoutMillis: 50 });
    const held = await pool.connect();
    try {
      const timedOut = await pool.connect().then(
        (client) => {
          client.release();
          return undefined;
        },
        (error: unknown) => error,
      );
      expect(timedOut).toMatchObject({ message: "timeout exceeded when trying to connect" });
      expect(translateDatabaseError(timedOut)).toBeInstanceOf(UnavailableError);
    } finally {
      held.release();
      await pool.end();
    }
  });
});

describe("bodies nested deeper than the call stack", () => {
  it("get the answer they get without an Idempotency-Key: a 400, not a crash in the fingerprint", async () => {
    const deep = `{"motto": ${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const patch = async (key?: string) => {
      const response = await gw.fetch("/userinfo", {
        method: "PATCH",
        headers: {
          authorization: `Bearer ${await gw.token(fresh("deep"))}`,
          "content-type": "application/json",
          ...(key === undefined ? {} : { "idempotency-key": key }),
        },
        body: deep,
      });
      return { status: response.status, body: await response.json() };
    };
    const plain = await patch();
    expect(plain.status).toBe(400);
    expect(await patch(`deep-${process.pid}`)).toEqual(plain);
  });
});

describe("bodies that are not UTF-8", () => {
  it("are refused on REST and GraphQL alike, and nothing is stored", async () => {
    const sub = fresh("bytes");
    const bytes = (prefix: string, suffix: string) =>
      Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe]), Buffer.from(suffix)]);
    const headers = { authorization: `Bearer ${await gw.token(sub)}`, "content-type": "application/json" };
    const rest = await gw.fetch("/userinfo", { method: "PATCH", headers, body: bytes('{"nickname":"', '"}') });
    expect([rest.status, await rest.json()]).toEqual([
      400,
      { error: "invalid_request", error_description: "The request body is not valid UTF-8." },
    ]);
    const graphql = await gw.fetch("/graphql", {
      method: "POST",
      headers,
      body: bytes('{"query":"mutation { updateUserInfo(input: {nickname: \\"', '\\"}) { __typename } }"}'),
    });
    expect(graphql.status).toBe(400);
    expect(((await graphql.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe(
      "The request body is not valid UTF-8.",
    );
    expect(await gw.prisma.user.findUnique({ where: { sub } })).toBeNull();
  });

  it("leave well-formed GraphQL bodies to yoga's parsers: JSON, and its error for JSON that is not", async () => {
    const ok = await gw.fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(await ok.json()).toEqual({ data: { __typename: "Query" } });
    const broken = await gw.fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"query": ',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe(
      "POST body sent invalid JSON.",
    );
  });
});
