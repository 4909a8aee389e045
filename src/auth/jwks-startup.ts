import { readFile } from "node:fs/promises";
import { createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK, type RemoteJWKSet } from "jose";
import { ConfigError } from "../config.js";
import type { Logger } from "../logger.js";
import type { Readiness } from "../observability/readiness.js";

const FIX =
  'point AUTH_JWKS_FILE at your issuer\'s public keys (a JWKS JSON file: {"keys": [...]}), or use AUTH_JWKS_URL';

/** The algorithm a key without `alg` is tried with, to check that it imports. */
function assumedAlgorithm(key: JWK): string | undefined {
  if (key.kty === "RSA") return "RS256";
  if (key.kty === "OKP") return "EdDSA";
  if (key.kty === "EC") return { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" }[key.crv ?? ""];
  return undefined;
}

/**
 * Checks the JWKS file of `AUTH_JWKS_FILE` before the gateway starts: readable, JSON, a JWKS, no private key material,
 * and at least one asymmetric public key that imports. A gateway without usable keys would answer every call with
 * `401 Error decoding JWT`.
 * @throws ConfigError naming the variable, what is wrong and the fix.
 */
export async function checkJwksFile(path: string): Promise<void> {
  const refuse = (what: string) => new ConfigError(`AUTH_JWKS_FILE=${path} ${what}: ${FIX}`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw refuse(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text) as JSONWebKeySet;
    createLocalJWKSet(jwks);
  } catch (error) {
    throw refuse(`is not a JSON Web Key Set (${(error as Error).message})`);
  }
  if (jwks.keys.some((key) => "d" in key || "k" in key)) {
    throw refuse('holds private or symmetric key material ("d" or "k"); publish only the public keys');
  }
  let usable = 0;
  for (const [index, key] of jwks.keys.entries()) {
    const alg = key.alg ?? assumedAlgorithm(key);
    if (alg === undefined) continue;
    try {
      await importJWK(key, alg);
      usable++;
    } catch (error) {
      throw refuse(`has a key that cannot be used (${key.kid ?? `#${index}`}: ${(error as Error).message})`);
    }
  }
  if (usable === 0) throw refuse("has no public signature key (kty EC, RSA or OKP)");
}

/** The first fetch of a remote JWKS, retried until it succeeds; until then the gateway is not ready. */
export interface RemoteJwksWarmUp {
  /** `undefined` once the keys were fetched. */
  readiness(): Readiness | undefined;
  close(): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * Fetches the issuer's JWKS (`AUTH_JWKS_URL`) at start and again, backing off up to 30 s, until a fetch succeeds: a
 * gateway whose keys were never fetched reports `/readyz` 503 with the reason instead of taking traffic it would
 * answer with 401. Once fetched, jose's cache and refetching take over.
 */
export function warmUpRemoteJwks(keys: RemoteJWKSet, url: string, log: Logger): RemoteJwksWarmUp {
  let reason: string | undefined = "issuer keys not fetched yet from AUTH_JWKS_URL";
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const attempt = (delayMs: number) => {
    keys.reload().then(
      () => {
        reason = undefined;
        log.info({ url }, "issuer keys fetched");
      },
      (error: unknown) => {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        const why = `${(error as Error).message}${cause === undefined ? "" : `: ${cause}`}`;
        reason = `issuer keys not fetched yet from AUTH_JWKS_URL (${why})`;
        log.warn({ url, retryInMs: delayMs }, reason);
        if (!closed) timer = setTimeout(() => attempt(Math.min(delayMs * 2, MAX_RETRY_MS)), delayMs).unref();
      },
    );
  };
  attempt(FIRST_RETRY_MS);
  return {
    readiness: () => (reason === undefined ? undefined : { ready: false, reason }),
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
