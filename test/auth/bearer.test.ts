import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";

const URI = 'error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"';
const MISSING = `Bearer error="invalid_request", error_description="Bearer token not found in the request", ${URI}`;
const UNDECODABLE = `Bearer error="invalid_token", error_description="Error decoding JWT", ${URI}`;
const SCOPE = `Bearer error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", ${URI}`;
const invalidToken = (description: string) =>
  `Bearer error="invalid_token", error_description="${description}", ${URI}`;

let database: TestDatabase;
let gw: TestGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  gw = await createTestGateway({ database, env: { AUTH_AUDIENCE: "https://api.example.com" } });
});
afterAll(async () => {
  await gw?.close();
  await database?.close();
});

async function get(authorization?: string, target: TestGateway = gw) {
  const response = await target.fetch("/userinfo", authorization === undefined ? {} : { headers: { authorization } });
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json() };
}

const token = (sub: string, extra: Record<string, unknown> = {}, scope?: string) =>
  gw.token(sub, { audience: "https://api.example.com", scope, extra });

describe("bearer authentication (SPEC 1.4)", () => {
  it.each([[undefined], ["Basic dXNlcjpwYXNz"], ["Bearer"], ["Bearer    "], [""], ["Token abc"]])(
    "answers 400 invalid_request without a bearer token (%j)",
    async (authorization) => {
      const result = await get(authorization);
      expect(result.status).toBe(400);
      expect(result.challenge).toBe(MISSING);
      expect(result.body).toEqual({
        error: "invalid_request",
        error_description: "Bearer token not found in the request",
      });
    },
  );

  it.each([["Bearer not-a-jwt"], ["Bearer a.b.c"], ["Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]])(
    "answers 401 Error decoding JWT for %s",
    async (authorization) => {
      const result = await get(authorization);
      expect(result.status).toBe(401);
      expect(result.challenge).toBe(UNDECODABLE);
    },
  );

  it("answers 401 Error decoding JWT for a token signed by an unknown key", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ scope: "openid" })
      .setProtectedHeader({ alg: "ES256", kid: gw.issuer.jwks.keys[0]!.kid! })
      .setSubject("mallory")
      .setIssuer(gw.config.auth.issuer)
      .setAudience("https://api.example.com")
      .setExpirationTime("1h")
      .sign(privateKey);
    const result = await get(`Bearer ${forged}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(UNDECODABLE);
  });

  it("answers 401 for an expired token", async () => {
    const expired = await gw.token("alice", { audience: "https://api.example.com", ttlSeconds: 60 });
    gw.clock.advance(120);
    const result = await get(`Bearer ${expired}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(invalidToken("The access token has expired"));
  });

  it("answers 401 for a token not yet valid", async () => {
    const early = await token("alice", { nbf: Math.floor(gw.clock.now().getTime() / 1000) + 600 });
    const result = await get(`Bearer ${early}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(invalidToken("The access token is not yet valid"));
  });

  it("answers 401 for a wrong issuer", async () => {
    const other = await gw.issuer.mint({
      sub: "alice",
      issuer: "https://evil.example",
      audience: "https://api.example.com",
      now: gw.clock.now(),
    });
    const result = await get(`Bearer ${other}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(invalidToken("The access token was not issued by the expected issuer"));
  });

  it("answers 401 for a wrong audience", async () => {
    const other = await gw.token("alice", { audience: "https://other.example.com" });
    const result = await get(`Bearer ${other}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(invalidToken("The access token is not intended for this audience"));
  });

  it.each([["profile email"], [""], ["openidx"]])("answers 403 insufficient_scope for scope %j", async (scope) => {
    const result = await get(`Bearer ${await token("alice", {}, scope)}`);
    expect(result.status).toBe(403);
    expect(result.challenge).toBe(SCOPE);
  });

  it("reads the scope from scp when there is no scope claim", async () => {
    const withScp = await gw.issuer.mint({
      sub: "scp-user",
      issuer: gw.config.auth.issuer,
      audience: "https://api.example.com",
      now: gw.clock.now(),
      extra: { scope: undefined, scp: ["profile", "openid"] },
    });
    expect((await get(`Bearer ${withScp}`)).status).toBe(200);
    const without = await gw.issuer.mint({
      sub: "scp-user",
      issuer: gw.config.auth.issuer,
      audience: "https://api.example.com",
      now: gw.clock.now(),
      extra: { scope: undefined, scp: ["profile"] },
    });
    expect((await get(`Bearer ${without}`)).status).toBe(403);
  });

  it("accepts the scheme name in any case", async () => {
    expect((await get(`bearer ${await token("case-user")}`)).status).toBe(200);
  });

  it("answers 401 for a token without a subject", async () => {
    const noSub = await gw.issuer.mint({
      sub: "",
      issuer: gw.config.auth.issuer,
      audience: "https://api.example.com",
      now: gw.clock.now(),
    });
    const result = await get(`Bearer ${noSub}`);
    expect(result.status).toBe(401);
    expect(result.challenge).toBe(invalidToken("The access token has no valid subject"));
  });
});

describe("issuer keys", () => {
  let dir: string;
  let keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[];

  const newKey = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
  };
  const sign = (key: { kid: string; privateKey: CryptoKey }, now: Date) =>
    new SignJWT({ scope: "openid", client_id: "web" })
      .setProtectedHeader({ alg: "ES256", kid: key.kid })
      .setSubject("rotated")
      .setIssuer("https://issuer.example")
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(now.getTime() / 1000) + 600)
      .sign(key.privateKey);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "jwks-"));
    keys = [await newKey("k1"), await newKey("k2")];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("verifies against AUTH_JWKS_FILE and rereads it when a token names a new key", async () => {
    const file = join(dir, "jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [keys[0]!.jwk] }));
    const { createApp } = await import("../../src/app.js");
    const { fileKeys } = await import("../../src/auth/bearer.js");
    const { loadConfig } = await import("../../src/config.js");
    const { createLogger } = await import("../../src/logger.js");
    const config = loadConfig({ AUTH_JWKS_FILE: file, AUTH_ISSUER: "https://issuer.example", DATA_DIR: dir });
    expect(config.auth.devIssuer).toBe(false);
    const app = createApp({
      config,
      store: gw.store,
      clock: gw.clock,
      random: gw.random,
      sender: { send: async () => undefined },
      log: createLogger("silent"),
      keys: fileKeys(file),
      devJwks: undefined,
    });
    const call = async (jwt: string) =>
      (await app.yoga.fetch(new Request("http://localhost/userinfo", { headers: { authorization: `Bearer ${jwt}` } })))
        .status;
    expect(await call(await sign(keys[0]!, gw.clock.now()))).toBe(200);
    expect(await call(await sign(keys[1]!, gw.clock.now()))).toBe(401);
    writeFileSync(file, JSON.stringify({ keys: [keys[0]!.jwk, keys[1]!.jwk] }));
    expect(await call(await sign(keys[1]!, gw.clock.now()))).toBe(200);
    const jwks = await app.yoga.fetch(new Request("http://localhost/.well-known/jwks.json"));
    expect(jwks.status).toBe(404);
  });

  it("fetches AUTH_JWKS_URL, caches it, and refetches on an unknown key", async () => {
    let served = { keys: [keys[0]!.jwk] };
    let fetches = 0;
    const server: Server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
      const { createApp } = await import("../../src/app.js");
      const { remoteKeys } = await import("../../src/auth/bearer.js");
      const { loadConfig } = await import("../../src/config.js");
      const { createLogger } = await import("../../src/logger.js");
      const config = loadConfig({ AUTH_JWKS_URL: url, AUTH_ISSUER: "https://issuer.example", DATA_DIR: dir });
      const app = createApp({
        config,
        store: gw.store,
        clock: gw.clock,
        random: gw.random,
        sender: { send: async () => undefined },
        log: createLogger("silent"),
        keys: remoteKeys(url, { cooldownMs: 0 }),
        devJwks: undefined,
      });
      const call = async (jwt: string) =>
        (
          await app.yoga.fetch(
            new Request("http://localhost/userinfo", { headers: { authorization: `Bearer ${jwt}` } }),
          )
        ).status;
      // jose checks real time for its cache; tokens are signed at the real time for this test.
      expect(await call(await sign(keys[0]!, new Date()))).toBe(200);
      expect(await call(await sign(keys[0]!, new Date()))).toBe(200);
      expect(fetches).toBe(1);
      served = { keys: [keys[0]!.jwk, keys[1]!.jwk] };
      expect(await call(await sign(keys[1]!, new Date()))).toBe(200);
      expect(fetches).toBe(2);
    } finally {
      server.close();
    }
  });
});

describe("development issuer", () => {
  it("serves its public JWKS, without the private key", async () => {
    const response = await gw.fetch("/.well-known/jwks.json");
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: JWK[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
  });
});
