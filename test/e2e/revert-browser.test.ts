import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { smtpSender } from "../../src/delivery/otp-senders.js";
import { createHttpHandler } from "../../src/http-server.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { createTestGateway, jsonRequest, type TestGateway } from "../support/gateway.js";
import { startSmtpInbox } from "../support/receivers.js";

// The revert link in a real browser (headless Chromium from Debian's `chromium` package, driven by playwright-core):
// the notice arrives at a real SMTP server, the browser opens its link, presses the button, sees the confirmation,
// and the database holds the previous address again.

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let gw: TestGateway;
let http: Server;
let smtp: Awaited<ReturnType<typeof startSmtpInbox>> | undefined;
let browser: Browser;
let sender: ReturnType<typeof smtpSender>;

beforeAll(async () => {
  smtp = await startSmtpInbox();
  sender = smtpSender({ url: smtp.url, from: "Accounts <no-reply@example.com>", timeoutMs: 5000 });
  // The HTTP server first: its address is the PUBLIC_URL of the links.
  let handler: ReturnType<typeof createHttpHandler> | undefined;
  http = createServer((req, res) => handler?.(req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const publicUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  gw = await createTestGateway({ noticeSender: sender, env: { PUBLIC_URL: publicUrl } });
  handler = createHttpHandler(gw.app, createMetrics(), createLogger("silent"));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  sender?.close();
  await gw?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await smtp?.close();
});

/** The text of a mail: quoted-printable soft breaks and escapes undone. */
const decoded = (raw: string) =>
  raw
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

describe("the revert page in Chromium", () => {
  it("opens the link from the mailed notice, undoes the change with one press, and shows the confirmation", async () => {
    const sub = "browser-user";
    await gw.store.users.create({ sub, email: "owner@example.com", createdAt: gw.clock.now() });
    const otp = await gw.otp("email", "attacker@example.net", { sub });
    const patched = await gw.fetch(
      "/userinfo",
      jsonRequest("PATCH", await gw.token(sub), {
        email: "attacker@example.net",
        email_otp_token: otp.token,
        email_otp: otp.code,
      }),
    );
    expect(patched.status).toBe(200);
    while ((await gw.app.outbox.runOnce()) > 0);

    const mail = smtp!.inbox.find((m) => m.to.includes("owner@example.com"));
    expect(mail).toBeDefined();
    const link = /http:\/\/127\.0\.0\.1:\d+\/userinfo\/revert\?token=[A-Za-z0-9_%-]+/.exec(decoded(mail!.raw))?.[0];
    expect(link).toBeDefined();

    const page = await browser.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy|Refused/.test(message.text())) violations.push(message.text());
    });
    const opened = await page.goto(link!);
    expect(opened?.status()).toBe(200);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Undo the change of your email address?");
    expect(await page.locator("main").textContent()).toContain("changed to a***@example.net");
    // The inline style is allowed by the page's Content-Security-Policy (its hash): the button is styled.
    const button = page.getByRole("button", { name: "Undo this change" });
    expect(await button.evaluate((b) => getComputedStyle(b).borderTopWidth)).toBe("2px");
    // Opening the page changed nothing.
    expect((await gw.prisma.user.findUniqueOrThrow({ where: { sub } })).email).toBe("attacker@example.net");

    await button.click();
    await page.getByRole("heading", { level: 1, name: "Your email address was restored" }).waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).search).toBe("");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Your email address was restored");
    expect(await page.getByRole("status").textContent()).toBe(
      "The email address of your account is o***@example.com again, and verified.",
    );
    expect(violations).toEqual([]);

    const user = await gw.prisma.user.findUniqueOrThrow({ where: { sub } });
    expect([user.email, user.emailVerified]).toEqual(["owner@example.com", true]);
    const tokens = await gw.prisma.revertToken.findMany({ where: { sub } });
    expect(tokens.map((t) => t.usedAt?.getTime())).toEqual([gw.clock.now().getTime()]);

    // Back in the browser and pressing again: the link is used up.
    await page.goto(link!);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This link cannot be used");
    await page.close();
  });
});
