import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/auth/bearer.js";
import { checkJwksFile, warmUpRemoteJwks } from "../src/auth/jwks-startup.js";
import { ConfigError, loadConfig, readEnvironment } from "../src/config.js";
import { createLogger, logDestination } from "../src/logger.js";
import { eventually } from "./support/child.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "userinfo-checks-"));
  // An embedded database server run as another user (as root: postgres) must get through to DATA_DIR inside.
  chmodSync(dir, 0o711);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PRODUCTION = {
  NODE_ENV: "production",
  AUTH_JWKS_URL: "https://id.example/jwks",
  AUTH_ISSUER: "https://id.example",
};
const LOG_DELIVERY_REFUSED =
  "refusing to start in production with OTP_DELIVERY=log (the default), which writes one-time codes to the log " +
  "instead of sending them: set OTP_DELIVERY=webhook (OTP_WEBHOOK_URL, OTP_WEBHOOK_SECRET) or OTP_DELIVERY=smtp " +
  "(SMTP_URL, SMTP_FROM), or ALLOW_LOG_DELIVERY=true to allow it explicitly";

describe("configuration guards", () => {
  it("refuse log delivery in production unless ALLOW_LOG_DELIVERY=true", () => {
    expect(() => loadConfig(PRODUCTION)).toThrow(new ConfigError(LOG_DELIVERY_REFUSED));
    expect(() => loadConfig({ ...PRODUCTION, OTP_DELIVERY: "log" })).toThrow(new ConfigError(LOG_DELIVERY_REFUSED));
    expect(loadConfig({ ...PRODUCTION, ALLOW_LOG_DELIVERY: "true" }).otp.delivery).toBe("log");
    const webhook = { OTP_DELIVERY: "webhook", OTP_WEBHOOK_URL: "https://sms.example/otp", OTP_WEBHOOK_SECRET: "s" };
    expect(loadConfig({ ...PRODUCTION, ...webhook }).otp.delivery).toBe("webhook");
    expect(loadConfig({}).otp.delivery).toBe("log");
  });

  it("name every problem at once", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
      new ConfigError(
        "refusing to start in production with the development token issuer: set AUTH_JWKS_URL or AUTH_JWKS_FILE and " +
          `AUTH_ISSUER, or AUTH_DEV_ISSUER=true to allow it explicitly; ${LOG_DELIVERY_REFUSED}`,
      ),
    );
  });

  it("read LOG_FORMAT: auto by default, json or pretty", () => {
    expect(loadConfig({}).logFormat).toBe("auto");
    expect(loadConfig({ LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
    expect(() => loadConfig({ LOG_FORMAT: "colour" })).toThrow(/LOG_FORMAT/);
  });
});

describe(".env", () => {
  it("completes the environment, which wins", () => {
    const cwd = mkdtempSync(join(dir, "env-"));
    writeFileSync(
      join(cwd, ".env"),
      '# local defaults\nPORT=4100\nLOG_LEVEL=warn\nSMTP_FROM="Accounts <no-reply@example.com>"\n',
    );
    const { env, envFile } = readEnvironment(cwd, { PORT: "4200", PATH: "/bin" });
    expect(envFile).toBe(join(cwd, ".env"));
    expect(env).toEqual({
      PORT: "4200",
      LOG_LEVEL: "warn",
      SMTP_FROM: "Accounts <no-reply@example.com>",
      PATH: "/bin",
    });
    expect(loadConfig(env)).toMatchObject({ port: 4200, logLevel: "warn" });
  });

  it("is optional, and an unreadable one stops the start with its path", () => {
    const cwd = mkdtempSync(join(dir, "env-"));
    expect(readEnvironment(cwd, { PORT: "1" })).toEqual({ env: { PORT: "1" }, envFile: undefined });
    mkdirSync(join(cwd, ".env"));
    expect(() => readEnvironment(cwd, {})).toThrow(
      new ConfigError(`${join(cwd, ".env")} cannot be read (EISDIR): fix its permissions or remove it`),
    );
  });
});

describe("AUTH_JWKS_FILE", () => {
  const FIX =
    'point AUTH_JWKS_FILE at your issuer\'s public keys (a JWKS JSON file: {"keys": [...]}), or use AUTH_JWKS_URL';
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };

  it("accepts a JWKS with a public signature key", async () => {
    const { publicKey } = await generateKeyPair("ES256", { extractable: true });
    await expect(
      checkJwksFile(file("good.json", { keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] })),
    ).resolves.toBeUndefined();
  });

  it("refuses what would answer every call with 401, naming the variable and the fix", async () => {
    const missing = join(dir, "missing.json");
    await expect(checkJwksFile(missing)).rejects.toThrow(
      new ConfigError(`AUTH_JWKS_FILE=${missing} cannot be read (ENOENT): ${FIX}`),
    );
    const text = file("text.json", "not json");
    await expect(checkJwksFile(text)).rejects.toThrow(`AUTH_JWKS_FILE=${text} is not a JSON Web Key Set (`);
    const notJwks = file("object.json", { issuer: "x" });
    await expect(checkJwksFile(notJwks)).rejects.toThrow(
      new ConfigError(`AUTH_JWKS_FILE=${notJwks} is not a JSON Web Key Set (JSON Web Key Set malformed): ${FIX}`),
    );
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const secret = file("private.json", { keys: [await exportJWK(privateKey)] });
    await expect(checkJwksFile(secret)).rejects.toThrow(
      new ConfigError(
        `AUTH_JWKS_FILE=${secret} holds private or symmetric key material ("d" or "k"); publish only the public keys: ${FIX}`,
      ),
    );
    const empty = file("empty.json", { keys: [] });
    await expect(checkJwksFile(empty)).rejects.toThrow(
      new ConfigError(`AUTH_JWKS_FILE=${empty} has no public signature key (kty EC, RSA or OKP): ${FIX}`),
    );
    const broken = file("broken.json", { keys: [{ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA", kid: "bad" }] });
    await expect(checkJwksFile(broken)).rejects.toThrow(
      `AUTH_JWKS_FILE=${broken} has a key that cannot be used (bad: `,
    );
  });
});

describe("a remote JWKS", () => {
  let server: Server;
  let up = false;
  let url: string;
  beforeAll(async () => {
    const { publicKey } = await generateKeyPair("ES256", { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] });
    server = createServer((_req, res) => {
      if (up) res.writeHead(200, { "content-type": "application/json" }).end(jwks);
      else res.writeHead(503).end();
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`;
  });
  afterAll(() => server.close());

  it("keeps the gateway not ready until its first fetch succeeds, retrying", async () => {
    const warmUp = warmUpRemoteJwks(remoteKeys(url), url, createLogger("silent"));
    try {
      await eventually(() => warmUp.readiness()?.reason !== "issuer keys not fetched yet from AUTH_JWKS_URL");
      expect(warmUp.readiness()).toEqual({
        ready: false,
        reason:
          "issuer keys not fetched yet from AUTH_JWKS_URL (Expected 200 OK from the JSON Web Key Set HTTP response)",
      });
      up = true;
      await eventually(() => warmUp.readiness() === undefined);
    } finally {
      warmUp.close();
    }
  });
});

describe("log lines", () => {
  it("are JSON unless asked for, or on a terminal outside production", async () => {
    expect(await logDestination("json", false)).toBeUndefined();
    expect(await logDestination("auto", true)).toBeUndefined();
    expect((await logDestination("auto", false)) === undefined).toBe(process.stdout.isTTY !== true);
    expect(await logDestination("pretty", true)).toBeDefined();
  });
});
