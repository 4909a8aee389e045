import { describe, expect, it } from "vitest";
import { ConfigError, DEV_ISSUER, loadConfig } from "../src/config.js";

describe("configuration", () => {
  it("defaults to the embedded database, the development issuer and log delivery", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      port: 4000,
      host: "127.0.0.1",
      databaseUrl: undefined,
      jitProvisioning: true,
      defaultClaims: undefined,
      auth: { devIssuer: true, issuer: DEV_ISSUER, audience: undefined },
      otp: { delivery: "log" },
    });
    expect(config.dataDir.endsWith("/.data")).toBe(true);
    expect(Object.isFrozen(config.auth)).toBe(true);
  });

  it("refuses the development issuer in production unless AUTH_DEV_ISSUER=true", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/development token issuer/);
    expect(
      loadConfig({ NODE_ENV: "production", AUTH_DEV_ISSUER: "true", ALLOW_LOG_DELIVERY: "true" }).auth.devIssuer,
    ).toBe(true);
  });

  it("needs AUTH_ISSUER with a JWKS, and only one JWKS source", () => {
    expect(() => loadConfig({ AUTH_JWKS_FILE: "/tmp/jwks.json" })).toThrow(/AUTH_ISSUER is required/);
    expect(() => loadConfig({ AUTH_JWKS_FILE: "/x", AUTH_JWKS_URL: "https://a/jwks", AUTH_ISSUER: "i" })).toThrow(
      /not both/,
    );
    const config = loadConfig({
      NODE_ENV: "production",
      AUTH_JWKS_URL: "https://id.example/jwks",
      AUTH_ISSUER: "https://id.example",
      AUTH_AUDIENCE: "api",
      ALLOW_LOG_DELIVERY: "true",
    });
    expect(config.auth).toMatchObject({
      devIssuer: false,
      jwksUrl: "https://id.example/jwks",
      issuer: "https://id.example",
      audience: "api",
    });
  });

  it("parses lists, booleans and numbers, and names bad variables", () => {
    const config = loadConfig({ DEFAULT_CLAIMS: " name, nickname ,,email", JIT_PROVISIONING: "false", PORT: "8080" });
    expect(config.defaultClaims).toEqual(["name", "nickname", "email"]);
    expect(config.jitProvisioning).toBe(false);
    expect(config.port).toBe(8080);
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ JIT_PROVISIONING: "maybe" })).toThrow(/JIT_PROVISIONING/);
  });
});
