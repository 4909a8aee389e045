import { createHash } from "node:crypto";
import type { Principal } from "../domain/requesters.js";

interface Entry {
  readonly principal: Principal;
  /** Valid from (`nbf`, ms) until (`exp`, or the cache's own limit, ms). */
  readonly from: number;
  readonly until: number;
}

/**
 * Verified access tokens, so that a token used again skips its signature check (~90 us of ES256) until it expires.
 * Keyed by the token's SHA-256, bounded, least recently used first out. Entries live at most `maxAgeMs`, so that a
 * key withdrawn from the issuer's JWKS stops being honoured soon.
 */
export function createTokenCache(maxEntries: number, maxAgeMs = 300_000) {
  const entries = new Map<string, Entry>();
  const keyOf = (token: string) => createHash("sha256").update(token).digest("base64url");
  return {
    /** The principal of a token verified before and valid at `now`. */
    get(token: string, now: number): Principal | undefined {
      if (maxEntries <= 0) return undefined;
      const key = keyOf(token);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (now >= entry.until) return undefined;
      entries.set(key, entry);
      return now < entry.from ? undefined : entry.principal;
    },
    /** Remembers a verified token, valid from `nbf` to `exp` (seconds since the epoch). */
    set(token: string, principal: Principal, now: number, exp: number | undefined, nbf: number | undefined): void {
      if (maxEntries <= 0 || exp === undefined) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      const until = Math.min(exp * 1000, now + maxAgeMs);
      entries.set(keyOf(token), { principal, from: nbf === undefined ? 0 : nbf * 1000, until });
    },
  };
}
