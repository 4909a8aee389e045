import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { localKeys } from "../../src/auth/bearer.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { connectDatabase } from "../../src/persistence/database.js";
import { databaseReadiness } from "../../src/persistence/readiness.js";
import { createTestGateway, jsonRequest, recordingSender, type TestGateway } from "../support/gateway.js";

let gw: TestGateway;
beforeAll(async () => {
  gw = await createTestGateway({ env: { CORS_ORIGINS: "https://app.example.com" } });
});
afterAll(() => gw?.close());

const appWith = (overrides: Partial<Parameters<typeof createApp>[0]>) =>
  createApp({
    config: gw.config,
    store: gw.store,
    clock: gw.clock,
    random: gw.random,
    sender: recordingSender(),
    log: createLogger("silent"),
    keys: localKeys(gw.issuer.jwks),
    devJwks: undefined,
    ...overrides,
  });
const get = (app: ReturnType<typeof createApp>, path: string) =>
  Promise.resolve(app.yoga.fetch(new Request(`http://localhost${path}`)));

describe("health and readiness", () => {
  it("answers /healthz while the process is up", async () => {
    const response = await gw.fetch("/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("is ready when the database answers and every migration is applied", async () => {
    const app = appWith({ readiness: databaseReadiness(gw.db) });
    const response = await get(app, "/readyz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ready" });
  });

  it("is not ready with a pending migration, or without a database", async () => {
    const readiness = databaseReadiness(gw.db);
    const [last] = await gw.prisma.$queryRaw<{ migration_name: string }[]>`
      SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name DESC LIMIT 1`;
    await gw.prisma
      .$executeRaw`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = ${last!.migration_name}`;
    try {
      const response = await get(appWith({ readiness }), "/readyz");
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        status: "not_ready",
        reason: `pending migrations: ${last!.migration_name}`,
      });
    } finally {
      await gw.prisma
        .$executeRaw`UPDATE "_prisma_migrations" SET rolled_back_at = NULL WHERE migration_name = ${last!.migration_name}`;
    }
    const nowhere = connectDatabase("postgresql://postgres@127.0.0.1:1/nowhere", 1);
    try {
      const response = await get(appWith({ readiness: databaseReadiness(nowhere) }), "/readyz");
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: "not_ready", reason: "database unreachable" });
    } finally {
      await nowhere.close();
    }
  });
});

describe("metrics", () => {
  it("counts OTP deliveries and failures by channel", async () => {
    const metrics = createMetrics();
    let fail = false;
    const app = appWith({
      metrics,
      sender: {
        async send() {
          if (fail) throw new Error("down");
        },
      },
    });
    const token = await gw.token("metrics-user");
    const send = (email: string) =>
      app.yoga.fetch(
        new Request("http://localhost/otp/send", jsonRequest("POST", token, { usage: "update_userinfo", email })),
      );
    expect((await send("m1@example.com")).status).toBe(200);
    fail = true;
    expect((await send("m2@example.com")).status).toBe(503);
    const text = await (await get(app, "/metrics")).text();
    expect(text).toContain('otp_sends_total{channel="email"} 1');
    expect(text).toContain('otp_send_failures_total{channel="email"} 1');
    expect(text).toContain("process_cpu_seconds_total");
  });
});

describe("CORS", () => {
  it("answers preflights for configured origins on REST and GraphQL", async () => {
    for (const path of ["/userinfo", "/graphql"]) {
      const response = await gw.fetch(path, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example.com",
          "access-control-request-method": "PATCH",
          "access-control-request-headers": "authorization,content-type",
        },
      });
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(response.headers.get("access-control-allow-methods")).toContain("PATCH");
    }
  });

  it("adds CORS headers to REST answers, errors included, and never allows another origin", async () => {
    const allowed = await gw.fetch("/userinfo", { headers: { origin: "https://app.example.com" } });
    expect(allowed.status).toBe(400);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("access-control-expose-headers")).toContain("www-authenticate");
    // Another origin is never echoed back, so browsers refuse to hand it the answer.
    const other = await gw.fetch("/userinfo", { headers: { origin: "https://evil.example.com" } });
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example.com");
  });

  it("sends no CORS headers when no origin is configured", async () => {
    const app = appWith({ config: { ...gw.config, corsOrigins: undefined } });
    const response = await app.yoga.fetch(
      new Request("http://localhost/userinfo", { headers: { origin: "https://app.example.com" } }),
    );
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("GraphQL document limits", () => {
  const run = async (query: string) => {
    const response = await gw.fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await gw.token("limits")}` },
      body: JSON.stringify({ query }),
    });
    return {
      status: response.status,
      body: (await response.json()) as { data?: unknown; errors?: { message: string }[] },
    };
  };

  it("refuses too many aliases", async () => {
    const query = `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: userInfo { sub }`).join(" ")} }`;
    const result = await run(query);
    expect(result.body.errors?.[0]?.message).toBe("Syntax Error: Aliases limit of 15 exceeded, found 16.");
    expect(result.body.data).toBeUndefined();
  });

  it("refuses documents that are too long or carry too many directives", async () => {
    const directives = `{ userInfo { sub ${"@include(if: true) ".repeat(21)} } }`;
    expect((await run(directives)).body.errors?.[0]?.message).toMatch(/Directives limit of 20 exceeded/);
    const long = `{ userInfo { ${"sub ".repeat(2100)} } }`;
    expect((await run(long)).body.errors?.[0]?.message).toMatch(/Token limit of 2000 exceeded/);
  });

  it("lets the documented operations through", async () => {
    expect((await run("{ userInfo { sub name claims } }")).body).toEqual({
      data: {
        userInfo: {
          sub: "limits",
          name: null,
          claims: { sub: "limits", updated_at: Math.floor(gw.clock.now().getTime() / 1000) },
        },
      },
    });
  });
});

describe("operator changes reach a gateway with caches on", () => {
  it("takes a new attribute and a new application at once", async () => {
    const cached = await createTestGateway({ database: gw.database, env: { LOOKUP_CACHE_TTL_MS: "60000" } });
    try {
      const token = await cached.token("cache-user", { clientId: "late-app" });
      const patch = (body: unknown) => cached.fetch("/userinfo", jsonRequest("PATCH", token, body));
      expect(await (await patch({ nickname: "before" })).json()).toMatchObject({ nickname: "before" });
      // Saved through another store object, as the CLI or another process would.
      await gw.store.customAttributes.save({ name: "late_attribute", type: "string", pattern: null, writable: true });
      const added = await patch({ late_attribute: "now" });
      expect(added.status).toBe(200);
      expect(await added.json()).toMatchObject({ late_attribute: "now" });
      await gw.store.applications.save({ clientId: "late-app", secretHash: null, claims: ["nickname"] });
      const read = await cached.fetch("/userinfo", { headers: { authorization: `Bearer ${token}` } });
      expect(await read.json()).toEqual({ sub: "cache-user", nickname: "before" });
      const unknown = await patch({ never_defined: 1 });
      expect(await unknown.json()).toEqual({
        error: "invalid_request",
        error_description: "Unknown attribute(s) found.",
      });
    } finally {
      await cached.close();
    }
  });
});
