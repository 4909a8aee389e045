import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/domain/errors.js";
import { hashRevertToken } from "../../src/domain/events.js";
import { createHttpHandler } from "../../src/http-server.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { createTestGateway, jsonRequest, type TestGateway } from "../support/gateway.js";

// The revert link of an identifier change notice (SPEC 5.4): page, JSON and form POST, single use, expiry,
// conflicts, audit and event.

let gw: TestGateway;
let n = 0;
const fresh = (prefix = "rv") => `${prefix}-${++n}`;

beforeAll(async () => {
  gw = await createTestGateway({ env: { REVERT_TTL_SECONDS: "3600", PUBLIC_URL: "https://accounts.example.com" } });
});
afterAll(() => gw?.close());

async function drain() {
  while ((await gw.app.outbox.runOnce()) > 0);
}

/** Sets `attribute` of `sub` to `value` through a PATCH with a valid code. */
async function change(sub: string, attribute: "email" | "phone_number", value: string) {
  const otp = await gw.otp(attribute === "email" ? "email" : "sms", value, { sub });
  const response = await gw.fetch(
    "/userinfo",
    jsonRequest("PATCH", await gw.token(sub), {
      [attribute]: value,
      [`${attribute}_otp_token`]: otp.token,
      [`${attribute}_otp`]: otp.code,
    }),
  );
  expect([response.status, await response.json()]).toMatchObject([200, { sub }]);
}

/** The revert token of the last notice delivered to `to`. */
async function tokenSentTo(to: string): Promise<string> {
  await drain();
  const notice = gw.notices.filter((m) => m.to === to).at(-1);
  expect(notice).toBeDefined();
  const url = new URL(notice!.revertUrl);
  expect(`${url.origin}${url.pathname}`).toBe("https://accounts.example.com/userinfo/revert");
  return url.searchParams.get("token")!;
}

/** A user whose email was changed from `from@` to `to@`; returns the revert token sent to `from@`. */
async function replacedEmail(sub: string, from: string, to: string) {
  await gw.store.users.create({ sub, email: from, createdAt: gw.clock.now() });
  await change(sub, "email", to);
  return tokenSentTo(from);
}

const revertJson = (token: unknown) =>
  gw.fetch("/userinfo/revert", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ revert_token: token }),
  });

const user = (sub: string) => gw.prisma.user.findUniqueOrThrow({ where: { sub } });

describe("GET /userinfo/revert", () => {
  it("shows the masked change and a form that posts, and changes nothing", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    const before = await user(sub);
    const response = await gw.fetch(`/userinfo/revert?token=${encodeURIComponent(token)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("content-security-policy")).toMatch(
      /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/,
    );
    const html = await response.text();
    expect(html).toContain('<html lang="en">');
    expect(html).toContain(`changed to <strong>r***@example.com</strong>`);
    expect(html).toContain(`becomes <strong>r***@example.com</strong> again`);
    expect(html).toContain('<form method="post" action="revert">');
    expect(html).toContain(`<input type="hidden" name="revert_token" value="${token}">`);
    expect(html).toContain('<button type="submit">Undo this change</button>');
    expect(html).not.toMatch(/<script|src=|href=/);
    expect(await user(sub)).toEqual(before);
    expect(
      (await gw.prisma.revertToken.findUniqueOrThrow({ where: { tokenHash: hashRevertToken(token) } })).usedAt,
    ).toBeNull();
  });

  it("answers 400 with a page for an unknown or missing token", async () => {
    for (const path of ["/userinfo/revert?token=nope", "/userinfo/revert"]) {
      const response = await gw.fetch(path);
      expect(response.status).toBe(400);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await response.text()).toContain("The link is unknown, was already used, or has expired.");
    }
  });
});

describe("POST /userinfo/revert", () => {
  it("restores the previous email, verified, once; audits it and writes its event", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    const versionBefore = (await user(sub)).version;

    const response = await revertJson(token);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ sub, attribute: "email", restored: "r***@example.com" });
    const after = await user(sub);
    expect([after.email, after.emailVerified, after.version]).toEqual([
      `${sub}.old@example.com`,
      true,
      versionBefore + 1,
    ]);
    const audit = await gw.prisma.auditEvent.findFirstOrThrow({ where: { sub }, orderBy: { id: "desc" } });
    expect([audit.clientId, audit.attributes, audit.changes]).toEqual([
      null,
      ["email"],
      { email: "r***@example.com", reverted: true },
    ]);
    const event = await gw.prisma.outboxEvent.findFirstOrThrow({
      where: { sub, stream: "events" },
      orderBy: { seq: "desc" },
    });
    expect(event.payload).toMatchObject({
      type: "user.updated",
      data: {
        sub,
        version: versionBefore + 1,
        changed: ["email"],
        attributes: { email: `${sub}.old@example.com`, email_verified: true },
      },
    });
    // A revert notifies no one.
    expect(await gw.prisma.outboxEvent.count({ where: { sub, stream: "notices" } })).toBe(1);

    const again = await revertJson(token);
    expect(again.status).toBe(400);
    expect(again.headers.get("content-type")).toBe("application/json;charset=UTF-8");
    expect(await again.json()).toEqual({ error: "invalid_revert_token" });
  });

  it("restores whatever the current value is, and a later link (sent to the replacing address) dies with it", async () => {
    const sub = fresh();
    const first = await replacedEmail(sub, `${sub}.a@example.com`, `${sub}.b@example.com`);
    await change(sub, "email", `${sub}.c@example.com`);
    const second = await tokenSentTo(`${sub}.b@example.com`);
    expect((await revertJson(first)).status).toBe(200);
    expect((await user(sub)).email).toBe(`${sub}.a@example.com`);
    // The address that took over first cannot take it back with its own link.
    expect(await (await revertJson(second)).json()).toEqual({ error: "invalid_revert_token" });
    expect((await user(sub)).email).toBe(`${sub}.a@example.com`);
  });

  it("restores a phone number", async () => {
    const sub = fresh();
    await gw.store.users.create({ sub, phoneNumber: "13700000001", createdAt: gw.clock.now() });
    await change(sub, "phone_number", "13700000002");
    const token = await tokenSentTo("13700000001");
    expect(gw.notices.at(-1)).toMatchObject({ channel: "sms", attribute: "phone_number", newValue: "137****0002" });
    const response = await revertJson(token);
    expect(await response.json()).toEqual({ sub, attribute: "phone_number", restored: "137****0001" });
    const after = await user(sub);
    expect([after.phoneNumber, after.phoneNumberVerified]).toEqual(["13700000001", true]);
  });

  it("expires after REVERT_TTL_SECONDS", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    gw.clock.advance(3600);
    expect(await (await revertJson(token)).json()).toEqual({ error: "invalid_revert_token" });
    expect((await gw.fetch(`/userinfo/revert?token=${token}`)).status).toBe(400);
    expect((await user(sub)).email).toBe(`${sub}.new@example.com`);
  });

  it("refuses a value another user took meanwhile, and the link works again once it is free", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    const other = fresh();
    await change(other, "email", `${sub}.old@example.com`);
    const refused = await revertJson(token);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: "duplicate_email" });
    expect((await user(sub)).email).toBe(`${sub}.new@example.com`);
    expect(
      (await gw.prisma.revertToken.findUniqueOrThrow({ where: { tokenHash: hashRevertToken(token) } })).usedAt,
    ).toBeNull();

    await change(other, "email", `${other}.elsewhere@example.com`);
    expect((await revertJson(token)).status).toBe(200);
    expect((await user(sub)).email).toBe(`${sub}.old@example.com`);
  });

  it("answers the form with an HTML confirmation, and errors as pages", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    const form = (value: string) =>
      gw.fetch("/userinfo/revert", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ revert_token: value }).toString(),
      });
    const done = await form(token);
    expect(done.status).toBe(200);
    expect(done.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(done.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await done.text()).toContain(
      '<p role="status">The email address of your account is <strong>r***@example.com</strong> again, and verified.</p>',
    );
    const used = await form(token);
    expect(used.status).toBe(400);
    expect(await used.text()).toContain("The link is unknown, was already used, or has expired.");
  });

  it("answers an unavailable database with a 503 page that says when to retry, and JSON with its 503", async () => {
    const unavailable = () => new UnavailableError("the database is unavailable");
    const down = await createTestGateway({
      database: gw.database,
      // The page reads the link; the POST locks it in a transaction: both meet a database that is gone.
      wrapStore: (store) => ({
        ...store,
        revertTokens: { ...store.revertTokens, find: () => Promise.reject(unavailable()) },
        transaction: () => Promise.reject(unavailable()),
      }),
    });
    try {
      const page = await down.fetch("/userinfo/revert?token=anything");
      expect(page.status).toBe(503);
      expect(page.headers.get("retry-after")).toBe("1");
      expect(page.headers.get("cache-control")).toBe("no-store");
      expect(await page.text()).toContain("Nothing was changed. Please try again in a moment");
      const json = await down.fetch("/userinfo/revert", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ revert_token: "anything" }),
      });
      expect(json.status).toBe(503);
      expect(json.headers.get("retry-after")).toBe("1");
      expect(((await json.json()) as { error: string }).error).toBe("temporarily_unavailable");
    } finally {
      await down.close();
    }
  });

  it("refuses bodies without a string revert_token", async () => {
    for (const body of [{}, { revert_token: 1 }, []]) {
      const response = await gw.fetch("/userinfo/revert", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
    }
    expect(await (await revertJson("x".repeat(300))).json()).toEqual({ error: "invalid_revert_token" });
  });

  it("stores only the token's hash", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    const rows = await gw.prisma.revertToken.findMany({ where: { sub } });
    expect(rows.map((r) => r.tokenHash)).toEqual([hashRevertToken(token)]);
    expect(JSON.stringify(rows)).not.toContain(token);
    // Delivered: the outbox forgot it too.
    expect(await gw.prisma.outboxEvent.count({ where: { secret: token } })).toBe(0);
  });
});

describe("logs", () => {
  it("never show the query string: neither the request line nor an error", async () => {
    const sub = fresh();
    const token = await replacedEmail(sub, `${sub}.old@example.com`, `${sub}.new@example.com`);
    let output = "";
    const log = createLogger(
      "debug",
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          output += chunk.toString();
          done();
        },
      }),
    );
    const server: Server = createServer(createHttpHandler(gw.app, createMetrics(), log));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/userinfo/revert?token=${token}`)).status).toBe(200);
      expect((await fetch(`${base}/userinfo/revert?token=unknown-${token}`)).status).toBe(400);
      expect((await fetch(`${base}/userinfo/revert?token=${token}`, { method: "DELETE" })).status).toBe(405);
      await new Promise((resolve) => setImmediate(resolve));
      expect(output).toContain('"route":"/userinfo/revert"');
      expect(output).not.toContain(token);
      expect(output).not.toContain("?token");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
