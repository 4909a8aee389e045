import { readFile, stat } from "node:fs/promises";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type RemoteJWKSet,
} from "jose";
import { UnavailableError } from "../domain/errors.js";
import type { Clock } from "../domain/ports.js";
import type { Principal } from "../domain/requesters.js";
import { AuthError, bearerErrors } from "./errors.js";
import { createTokenCache } from "./token-cache.js";

/** Verifies `Authorization` headers and yields the principal. */
export type BearerVerifier = (authorization: string | null) => Promise<Principal>;

// Asymmetric algorithms only: "none" and shared-secret HMAC are never accepted from an issuer's JWKS.
const ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];

/** The bearer token of an `Authorization` header, or `undefined` when there is none. */
export function bearerTokenOf(authorization: string | null): string | undefined {
  const match = /^Bearer(?:[ \t]+(.*))?$/i.exec(authorization?.trim() ?? "");
  const token = match?.[1]?.trim();
  return token === undefined || token.length === 0 ? undefined : token;
}

/**
 * Keys from a remote JWKS: cached for ten minutes, and refetched when a token names an unknown key - at most once
 * per `cooldownMs`, so that tokens with made-up key ids cannot make the gateway hammer the issuer.
 */
export function remoteKeys(url: string, { cooldownMs = 30_000 } = {}): RemoteJWKSet {
  return createRemoteJWKSet(new URL(url), {
    cooldownDuration: cooldownMs,
    cacheMaxAge: 600_000,
    timeoutDuration: 5_000,
  });
}

/**
 * Keys from a JWKS file, read once; when a token names an unknown key and the file changed since, it is read again
 * (so that rotating keys needs no restart, and known keys cost no file system call).
 */
export function fileKeys(path: string): JWTVerifyGetKey {
  let current: { mtimeMs: number; keys: JWTVerifyGetKey } | undefined;
  const load = async () => {
    const { mtimeMs } = await stat(path);
    if (current?.mtimeMs !== mtimeMs) {
      const jwks = JSON.parse(await readFile(path, "utf8")) as JSONWebKeySet;
      current = { mtimeMs, keys: createLocalJWKSet(jwks) };
    }
    return current.keys;
  };
  return async (header, token) => {
    const keys = current?.keys ?? (await load());
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      const reloaded = await load();
      if (reloaded === keys) throw error;
      return reloaded(header, token);
    }
  };
}

/** Keys from a JWKS held in memory (the development issuer's). */
export const localKeys = (jwks: JSONWebKeySet): JWTVerifyGetKey => createLocalJWKSet(jwks);

/** Options of {@link createBearerVerifier}. */
export interface BearerVerifierOptions {
  readonly keys: JWTVerifyGetKey;
  readonly issuer: string;
  readonly audience: string | undefined;
  readonly clock: Clock;
  /** How many verified tokens to remember (0: none). */
  readonly cacheSize?: number;
}

function scopesOf(payload: JWTPayload): string[] {
  const { scope, scp } = payload;
  if (typeof scope === "string") return scope.split(" ");
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === "string");
  if (typeof scp === "string") return scp.split(" ");
  return [];
}

function describe(error: unknown): AuthError {
  if (error instanceof errors.JWTExpired) return new AuthError("invalid_token", "The access token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "nbf":
      case "iat":
        return new AuthError("invalid_token", "The access token is not yet valid");
      case "iss":
        return new AuthError("invalid_token", "The access token was not issued by the expected issuer");
      case "aud":
        return new AuthError("invalid_token", "The access token is not intended for this audience");
      case "exp":
        return new AuthError("invalid_token", "The access token has no expiry");
    }
  }
  return bearerErrors.undecodable();
}

// C0/C1 controls (NUL included), and surrogates that are not half of a pair: PostgreSQL refuses NUL in text, and
// subjects that differ only in a lone surrogate would be stored as the same one.
const UNFIT_IN_SUBJECT = /[\p{Cc}\p{Cs}]/u;

/** A `sub` the gateway keys profiles by: a string of 1..255 UTF-16 units, well-formed, without control characters. */
const isValidSubject = (sub: unknown): sub is string =>
  typeof sub === "string" && sub.length >= 1 && sub.length <= 255 && !UNFIT_IN_SUBJECT.test(sub);

/** Creates the verifier of SPEC 1.4: signature, issuer, audience, lifetime, then the `openid` scope. */
export function createBearerVerifier({
  keys,
  issuer,
  audience,
  clock,
  cacheSize = 0,
}: BearerVerifierOptions): BearerVerifier {
  const cache = createTokenCache(cacheSize);
  return async (authorization) => {
    const token = bearerTokenOf(authorization);
    if (token === undefined) throw bearerErrors.missing();
    const now = clock.now();
    const known = cache.get(token, now.getTime());
    if (known !== undefined) return known;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        ...(audience === undefined ? {} : { audience }),
        algorithms: ALGORITHMS,
        // A token without an expiry would be honoured forever.
        requiredClaims: ["exp"],
        currentDate: now,
        clockTolerance: 5,
      }));
    } catch (error) {
      if (error instanceof errors.JWKSTimeout || (error instanceof TypeError && error.message.includes("fetch"))) {
        throw new UnavailableError("the issuer's keys could not be fetched", { cause: error });
      }
      throw describe(error);
    }
    if (!isValidSubject(payload.sub)) throw new AuthError("invalid_token", "The access token has no valid subject");
    const scopes = scopesOf(payload);
    if (!scopes.includes("openid")) throw bearerErrors.insufficientScope();
    const clientId = typeof payload.client_id === "string" ? payload.client_id : payload.azp;
    const { auth_time: authTime } = payload;
    const principal: Principal = {
      sub: payload.sub,
      clientId: typeof clientId === "string" ? clientId : null,
      scopes,
      // RFC 9470: a number of seconds; anything else is as good as no auth_time.
      authTime: typeof authTime === "number" && Number.isFinite(authTime) ? authTime : undefined,
    };
    cache.set(token, principal, now.getTime(), payload.exp, payload.nbf);
    return principal;
  };
}
