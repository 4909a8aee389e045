import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/domain/errors.js";
import { createHttpHandler } from "../../src/http-server.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { AppRouter } from "../../src/trpc/router.js";
import { createTestGateway, failingDefinitions, type TestGateway } from "../support/gateway.js";

// The tRPC face (SPEC 5.5) through @trpc/client over real HTTP: the same use cases, the same Bearer header, failures
// as tRPC errors carrying the REST code in `error.data.error`.

let gw: TestGateway;
const servers: Server[] = [];
let n = 0;

/** Serves a gateway over HTTP the way src/main.ts does; returns its /trpc URL. */
async function listen(target: TestGateway): Promise<string> {
  const server = createServer(createHttpHandler(target.app, createMetrics(), createLogger("silent")));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/trpc`;
}

const client = (url: string, authorization?: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url, headers: () => (authorization === undefined ? {} : { authorization }) })],
  });

/** The TRPCClientError a call fails with. */
async function failure(call: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<AppRouter>;
    throw error;
  }
  throw new Error("the call succeeded");
}

let url: string;
beforeAll(async () => {
  gw = await createTestGateway();
  url = await listen(gw);
});
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await gw?.close();
});

describe("tRPC over HTTP", () => {
  it("sends a code, then changes the email with it; the profile reads back the same", async () => {
    const sub = `trpc-${++n}`;
    const email = `${sub}@Example.com`;
    const trpc = client(url, `Bearer ${await gw.token(sub)}`);

    const sent = await trpc.sendOtp.mutate({ email });
    expect(Object.keys(sent)).toEqual(["otpToken"]);
    const message = gw.delivered.at(-1)!;
    expect(message).toMatchObject({ channel: "email", to: email, usage: "update_userinfo" });
    expect(await gw.prisma.otpChallenge.findFirst({ where: { target: email.toLowerCase() } })).toMatchObject({
      usage: "update_userinfo",
      userSub: sub,
    });

    const updated = await trpc.updateUserInfo.mutate({
      email,
      emailOtpToken: sent.otpToken,
      emailOtp: message.code,
      nickname: "Ada",
      locale: "en_US",
    });
    expect(updated).toEqual({
      sub,
      nickname: "Ada",
      email,
      emailVerified: true,
      locale: "en-US",
      updatedAt: Math.floor(gw.clock.now().getTime() / 1000),
      customAttributes: {},
      version: updated.version,
    });
    expect(await gw.prisma.user.findUnique({ where: { sub } })).toMatchObject({
      email,
      emailVerified: true,
      nickname: "Ada",
      locale: "en-US",
    });
    expect(await trpc.userInfo.query()).toEqual(updated);

    // The token was consumed with the write.
    const reused = await failure(
      trpc.updateUserInfo.mutate({ email, emailOtpToken: sent.otpToken, emailOtp: message.code }),
    );
    expect(reused.data).toMatchObject({
      code: "BAD_REQUEST",
      httpStatus: 400,
      error: "bad_email_otp_token",
      field: "emailOtpToken",
    });
  });

  it("batches calls and removes attributes set to null", async () => {
    const sub = `batch-${++n}`;
    const trpc = createTRPCClient<AppRouter>({
      links: [httpBatchLink({ url, headers: { authorization: `Bearer ${await gw.token(sub)}` } })],
    });
    await trpc.updateUserInfo.mutate({ name: "Grace", zoneinfo: "asia/shanghai" });
    const [removed, read] = await Promise.all([trpc.updateUserInfo.mutate({ name: null }), trpc.userInfo.query()]);
    expect(removed).not.toHaveProperty("name");
    expect(removed.zoneinfo).toBe("Asia/Shanghai");
    expect(read?.sub).toBe(sub);
    expect((await gw.prisma.user.findUnique({ where: { sub } }))?.name).toBeNull();
  });

  it("carries domain failures as tRPC errors with the REST code, the field and no stack", async () => {
    const trpc = client(url, `Bearer ${await gw.token(`bad-${++n}`)}`);
    const illegal = await failure(trpc.updateUserInfo.mutate({ nickname: "  " }));
    expect(illegal.message).toBe("A value is not allowed.");
    expect(illegal.data).toEqual({
      code: "BAD_REQUEST",
      httpStatus: 400,
      path: "updateUserInfo",
      error: "illegal_parameter_value",
      field: "nickname",
    });
    expect(illegal.shape).not.toHaveProperty("data.stack");

    const unknown = await failure(trpc.updateUserInfo.mutate({ customAttributes: { nope: 1 } }));
    expect(unknown).toMatchObject({ message: "Unknown attribute(s) found.", data: { error: "invalid_request" } });

    const companions = await failure(trpc.updateUserInfo.mutate({ email: "a@example.com" }));
    expect(companions.data).toMatchObject({ error: "invalid_request", field: "email" });

    const malformed = await failure(trpc.sendOtp.mutate({ phoneNumber: "+1 555" }));
    expect(malformed.data).toMatchObject({
      code: "BAD_REQUEST",
      error: "malformed_phone_number",
      field: "phoneNumber",
    });

    // Inputs are GraphQL's: an unknown key or a wrong type is a bad request.
    // biome-ignore lint/suspicious/noExplicitAny: sends what the types forbid, as a careless client would
    const wrongType = await failure(trpc.updateUserInfo.mutate({ nickname: 5 } as any));
    expect(wrongType.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, error: "invalid_request" });
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const unknownKey = await failure(trpc.updateUserInfo.mutate({ email_verified: true } as any));
    expect(unknownKey.data).toMatchObject({ code: "BAD_REQUEST", error: "invalid_request" });
  });

  it("updates only at ifVersion and replays an idempotencyKey, as GraphQL does", async () => {
    const sub = `safe-${++n}`;
    const trpc = client(url, `Bearer ${await gw.token(sub)}`);
    const first = await trpc.updateUserInfo.mutate({ nickname: "one" });
    const stale = await failure(trpc.updateUserInfo.mutate({ nickname: "two", ifVersion: first.version + 5 }));
    expect(stale.message).toBe("The profile was changed by another request.");
    expect(stale.data).toMatchObject({
      code: "PRECONDITION_FAILED",
      httpStatus: 412,
      error: "precondition_failed",
      currentVersion: first.version,
    });
    const second = await trpc.updateUserInfo.mutate({ nickname: "two", ifVersion: first.version });
    expect(second.version).toBe(first.version + 1);

    const keyed = { nickname: "three", idempotencyKey: `key-${n}` };
    const applied = await trpc.updateUserInfo.mutate(keyed);
    const replayed = await trpc.updateUserInfo.mutate(keyed);
    expect(replayed).toEqual(applied);
    expect((await gw.prisma.user.findUnique({ where: { sub } }))?.version).toBe(applied.version);
    const other = await failure(trpc.updateUserInfo.mutate({ ...keyed, nickname: "four" }));
    expect(other.data).toMatchObject({ code: "UNPROCESSABLE_CONTENT", httpStatus: 422, error: "invalid_request" });

    const send = { email: `${sub}@example.com`, idempotencyKey: `send-${n}` };
    const sent = await trpc.sendOtp.mutate(send);
    const delivered = gw.delivered.length;
    expect(await trpc.sendOtp.mutate(send)).toEqual(sent);
    expect(gw.delivered.length).toBe(delivered);
  });

  it("answers rate limits as TOO_MANY_REQUESTS with retryAfterSeconds and Retry-After", async () => {
    const sub = `limit-${++n}`;
    const authorization = `Bearer ${await gw.token(sub)}`;
    const trpc = client(url, authorization);
    await trpc.sendOtp.mutate({ email: `${sub}@example.com`, usage: "update_userinfo" });
    const limited = await failure(trpc.sendOtp.mutate({ email: `${sub}@example.com` }));
    expect(limited.message).toBe("Email rate limit exceeded for same email");
    expect(limited.data).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      httpStatus: 429,
      error: "email_rate_limit_exceeded",
      retryAfterSeconds: 30,
    });
    const raw = await fetch(`${url}/sendOtp`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify({ email: `${sub}@example.com` }),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("30");

    const login = await failure(trpc.sendOtp.mutate({ email: `${sub}@example.com`, usage: "login" }));
    expect(login.data).toMatchObject({ error: "invalid_request", field: "usage" });
  });

  it.each([
    ["no token", undefined, "BAD_REQUEST", 400, "invalid_request", "Bearer token not found in the request"],
    ["a token that is not a JWT", "Bearer nope", "UNAUTHORIZED", 401, "invalid_token", "Error decoding JWT"],
  ] as const)(
    "answers %s like REST: status, code and challenge",
    async (_label, authorization, code, status, error, message) => {
      for (const call of [
        client(url, authorization).userInfo.query(),
        client(url, authorization).updateUserInfo.mutate({ nickname: "x" }),
        client(url, authorization).sendOtp.mutate({ email: "a@example.com" }),
      ]) {
        const failed = await failure(call);
        expect(failed.message).toBe(message);
        expect(failed.data).toMatchObject({ code, httpStatus: status, error });
      }
      const raw = await fetch(`${url}/userInfo`, { headers: authorization === undefined ? {} : { authorization } });
      expect(raw.status).toBe(status);
      const rest = await gw.fetch("/userinfo", { headers: authorization === undefined ? {} : { authorization } });
      expect(raw.headers.get("www-authenticate")).toBe(rest.headers.get("www-authenticate"));
    },
  );

  it("answers a token without openid with FORBIDDEN insufficient_scope", async () => {
    const failed = await failure(
      client(url, `Bearer ${await gw.token("scope", { scope: "profile" })}`).userInfo.query(),
    );
    expect(failed.data).toMatchObject({ code: "FORBIDDEN", httpStatus: 403, error: "insufficient_scope" });
  });

  it("refuses a batch of more than 10 calls whole, and takes 10", async () => {
    const sub = `batch-${++n}`;
    const token = await gw.token(sub);
    const batch = (calls: number) =>
      fetch(`${url}/${Array.from({ length: calls }, () => "updateUserInfo").join(",")}?batch=1`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(Object.fromEntries(Array.from({ length: calls }, (_, i) => [i, { nickname: `n${i}` }]))),
      });
    const refused = await batch(11);
    expect(refused.status).toBe(400);
    expect(await gw.prisma.user.findUnique({ where: { sub } })).toBeNull();
    const taken = await batch(10);
    expect(taken.status).toBe(200);
    expect(((await taken.json()) as unknown[]).length).toBe(10);
    expect(await gw.prisma.auditEvent.count({ where: { sub } })).toBe(10);
  });

  it("refuses a body that is not UTF-8, as REST does, and stores nothing", async () => {
    const sub = `utf8-${++n}`;
    const response = await fetch(`${url}/updateUserInfo`, {
      method: "POST",
      headers: { authorization: `Bearer ${await gw.token(sub)}`, "content-type": "application/json" },
      body: Buffer.concat([Buffer.from('{"nickname":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: "The request body is not valid UTF-8.",
        code: -32600,
        data: { code: "BAD_REQUEST", httpStatus: 400, error: "invalid_request" },
      },
    });
    expect(await gw.prisma.user.findUnique({ where: { sub } })).toBeNull();
  });

  it("refuses an ifVersion beyond a 32-bit integer as invalid input, as GraphQL's Int does", async () => {
    const trpc = client(url, `Bearer ${await gw.token(`big-${++n}`)}`);
    for (const ifVersion of [2_147_483_648, Number.MAX_SAFE_INTEGER]) {
      const refused = await failure(trpc.updateUserInfo.mutate({ nickname: "v", ifVersion }));
      expect(refused.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, error: "invalid_request" });
    }
  });

  it("masks unexpected errors and answers an unavailable database with SERVICE_UNAVAILABLE", async () => {
    const broken = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new Error("secret internals at /srv/x.ts:9")),
    });
    const down = await createTestGateway({
      database: gw.database,
      wrapStore: failingDefinitions(new UnavailableError("db down")),
    });
    try {
      const brokenUrl = await listen(broken);
      const raw = await fetch(`${brokenUrl}/userInfo`, {
        headers: { authorization: `Bearer ${await broken.token("m")}` },
      });
      expect(raw.status).toBe(500);
      const text = await raw.text();
      expect(text).not.toContain("secret internals");
      expect(text).not.toContain("stack");
      const masked = await failure(client(brokenUrl, `Bearer ${await broken.token("m")}`).userInfo.query());
      expect(masked.message).toBe("An unexpected error occurred.");
      expect(masked.data).toMatchObject({ code: "INTERNAL_SERVER_ERROR", httpStatus: 500, error: "server_error" });

      const downUrl = await listen(down);
      const rawDown = await fetch(`${downUrl}/updateUserInfo`, {
        method: "POST",
        headers: { authorization: `Bearer ${await down.token("d")}`, "content-type": "application/json" },
        body: JSON.stringify({ nickname: "x" }),
      });
      expect([rawDown.status, rawDown.headers.get("retry-after")]).toEqual([503, "1"]);
      const unavailable = await failure(
        client(downUrl, `Bearer ${await down.token("d")}`).updateUserInfo.mutate({ nickname: "x" }),
      );
      expect(unavailable.message).toBe("The service is temporarily unavailable.");
      expect(unavailable.data).toMatchObject({
        code: "SERVICE_UNAVAILABLE",
        httpStatus: 503,
        error: "temporarily_unavailable",
      });
    } finally {
      await broken.close();
      await down.close();
    }
  });

  it("returns null for a missing profile without just-in-time provisioning", async () => {
    const strict = await createTestGateway({ database: gw.database, env: { JIT_PROVISIONING: "false" } });
    try {
      const trpc = client(await listen(strict), `Bearer ${await strict.token("ghost")}`);
      expect(await trpc.userInfo.query()).toBeNull();
      const failed = await failure(trpc.updateUserInfo.mutate({ nickname: "x" }));
      expect(failed.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, error: "user_not_found" });
    } finally {
      await strict.close();
    }
  });
});

describe("the AppRouter type", () => {
  it("resolves as `userinfo-bff/trpc` through package.json exports for a type-checking client", () => {
    // tsc on a fixture that imports the type by the package name; it fails on a wrong input or output type too.
    const output = execFileSync("npx", ["tsc", "-p", "test/trpc/fixture/tsconfig.json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(output).toBe("");
  }, 120_000);
});
