import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from "jose";

/** The development issuer's signing key and its public JWKS. */
export interface DevIssuer {
  readonly jwks: JSONWebKeySet;
  /** Mints an access token for `sub`. */
  mint(claims: DevTokenClaims): Promise<string>;
}

/** What a development token says. */
export interface DevTokenClaims {
  readonly sub: string;
  readonly issuer: string;
  readonly audience?: string | undefined;
  readonly clientId?: string | undefined;
  readonly scope?: string | undefined;
  readonly ttlSeconds?: number | undefined;
  readonly now?: Date | undefined;
  /** Further payload claims (`azp`, `scp`, `nbf`, ...). */
  readonly extra?: Record<string, unknown> | undefined;
}

const ALG = "ES256";
/** Where the development issuer's private key is kept in a data directory. */
export const devIssuerKeyFile = (dataDir: string): string => join(dataDir, "dev-issuer-key.json");

/**
 * Loads the development issuer's ES256 key from `dataDir`, creating it on first use, so that tokens minted by the
 * CLI verify in the running gateway and survive restarts.
 */
export async function loadDevIssuer(dataDir: string): Promise<DevIssuer> {
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(readFileSync(devIssuerKeyFile(dataDir), "utf8")) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    privateJwk = await exportJWK(privateKey);
    privateJwk.kid = await calculateJwkThumbprint(privateJwk);
    privateJwk.alg = ALG;
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(devIssuerKeyFile(dataDir), JSON.stringify(privateJwk), { mode: 0o600, flag: "wx" });
    } catch (raced) {
      // Another process created the key first: use that one.
      if ((raced as NodeJS.ErrnoException).code !== "EEXIST") throw raced;
      privateJwk = JSON.parse(readFileSync(devIssuerKeyFile(dataDir), "utf8")) as JWK;
    }
  }
  const { d: _private, ...publicJwk } = privateJwk;
  const key = (await importJWK(privateJwk, ALG)) as CryptoKey;
  return {
    jwks: { keys: [{ ...publicJwk, use: "sig", alg: ALG }] },
    async mint({
      sub,
      issuer,
      audience,
      clientId,
      scope = "openid profile email phone",
      ttlSeconds = 3600,
      now,
      extra,
    }) {
      const iat = Math.floor((now ?? new Date()).getTime() / 1000);
      const jwt = new SignJWT({ scope, ...(clientId === undefined ? {} : { client_id: clientId }), ...extra })
        .setProtectedHeader({ alg: ALG, kid: privateJwk.kid!, typ: "at+jwt" })
        .setSubject(sub)
        .setIssuer(issuer)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds);
      if (audience !== undefined) jwt.setAudience(audience);
      return jwt.sign(key);
    },
  };
}
