import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createHttpHandler } from "../../src/http-server.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";

// GET /docs (SPEC 5.5): Swagger UI rendering /openapi.json, its assets served by the gateway (no CDN); on unless
// production (API_DOCS=true). The page is rendered in Debian's headless Chromium (installed by .ci/run).

const CHROMIUM = "/usr/bin/chromium";

let gw: TestGateway;
let server: Server;
let base: string;

beforeAll(async () => {
  gw = await createTestGateway();
  server = createServer(createHttpHandler(gw.app, createMetrics(), createLogger("silent")));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await gw?.close();
});

describe("the API reference page", () => {
  it("is served with its assets from the gateway, nothing from elsewhere", async () => {
    const page = await gw.fetch("/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual([
      "/docs/assets/favicon-32x32.png",
      "/docs/assets/swagger-ui.css",
      "/docs/assets/swagger-ui-bundle.js",
      "/docs/assets/init.js",
    ]);
    for (const [path, type] of [
      ["/docs/assets/swagger-ui-bundle.js", "text/javascript; charset=utf-8"],
      ["/docs/assets/swagger-ui.css", "text/css; charset=utf-8"],
      ["/docs/assets/favicon-32x32.png", "image/png"],
      ["/docs/assets/init.js", "text/javascript; charset=utf-8"],
    ] as const) {
      const asset = await gw.fetch(path);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("content-type")).toBe(type);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect(await (await gw.fetch("/docs/assets/init.js")).text()).toContain('url: "/openapi.json"');
    const post = await gw.fetch("/docs", { method: "POST" });
    expect(post.status).toBe(405);
  });

  it("is on unless production, where API_DOCS=true turns it on", async () => {
    const production = { NODE_ENV: "production", AUTH_DEV_ISSUER: "true", ALLOW_LOG_DELIVERY: "true" };
    expect(loadConfig({}).apiDocs).toBe(true);
    expect(loadConfig({ API_DOCS: "false" }).apiDocs).toBe(false);
    expect(loadConfig(production).apiDocs).toBe(false);
    expect(loadConfig({ ...production, API_DOCS: "true" }).apiDocs).toBe(true);

    const off = await createTestGateway({ database: gw.database, env: production });
    const on = await createTestGateway({ database: gw.database, env: { ...production, API_DOCS: "true" } });
    try {
      expect((await off.fetch("/docs")).status).toBe(404);
      expect((await off.fetch("/docs/assets/swagger-ui-bundle.js")).status).toBe(404);
      // The description itself is always there.
      expect((await off.fetch("/openapi.json")).status).toBe(200);
      expect((await on.fetch("/docs")).status).toBe(200);
    } finally {
      await off.close();
      await on.close();
    }
  });

  it("renders the PATCH /userinfo operation in headless Chromium", async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
      const problems: string[] = [];
      const outside: string[] = [];
      page.on("pageerror", (error) => problems.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") problems.push(message.text());
      });
      page.on("request", (request) => {
        if (!request.url().startsWith(base) && !request.url().startsWith("data:")) outside.push(request.url());
      });
      await page.goto(`${base}/docs`);
      const patch = page.locator("#operations-userinfo-updateUserInfo");
      await patch.waitFor({ state: "visible", timeout: 30_000 });
      expect(await patch.locator(".opblock-summary-method").textContent()).toBe("PATCH");
      expect(await patch.locator(".opblock-summary-path").getAttribute("data-path")).toBe("/userinfo");
      expect(await patch.textContent()).toContain("Update the signed-in user's profile");
      await expect(page.locator("#operations-otp-sendOtp").isVisible()).resolves.toBe(true);
      expect(await page.locator(".info .title").textContent()).toContain("userinfo-bff REST API");

      // Opened, the operation shows its error codes from the description.
      await patch.locator(".opblock-summary").click();
      await page.locator("#operations-userinfo-updateUserInfo .responses-table").first().waitFor({ timeout: 30_000 });
      const opened = (await patch.textContent()) ?? "";
      for (const status of ["200", "400", "401", "412", "422"]) expect(opened).toContain(status);

      const file = join(mkdtempSync(join(tmpdir(), "userinfo-docs-")), "docs-patch-userinfo.png");
      await page.screenshot({ path: file, fullPage: false });
      const png = readFileSync(file);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.length).toBeGreaterThan(10_000);
      expect(problems).toEqual([]);
      expect(outside).toEqual([]);
      console.info(`screenshot of /docs: ${file}`);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
