import { createHash, randomUUID } from "node:crypto";
import { DomainError, invalidRequest } from "./errors.js";
import type { Clock, IdempotencyRepository, IdempotentRequest, KeptAnswer } from "./ports.js";

/**
 * How long a first request holds its key before another may take it over: a process that died while answering
 * leaves its key for this long (a repeat meanwhile gets `409`).
 */
export const IDEMPOTENCY_LEASE_MS = 60_000;

/** 1..255 visible ASCII characters (draft-ietf-httpapi-idempotency-key-header; SPEC 5.2). */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** Dependencies of {@link createIdempotency}. */
export interface IdempotencyDeps {
  readonly keys: IdempotencyRepository;
  readonly clock: Clock;
  /** How long an answer is kept. */
  readonly ttlSeconds: number;
  /** Hears a kept answer that could not be stored (the request itself succeeded). */
  readonly onKeepFailure?: (error: unknown) => void;
}

/** What {@link Idempotency.once} answered: the answer, and whether it is a replay of a kept one. */
export interface IdempotentOutcome {
  readonly answer: KeptAnswer;
  readonly replayed: boolean;
}

/** Requests with an `Idempotency-Key` (SPEC 5.2), for every face. */
export type Idempotency = ReturnType<typeof createIdempotency>;

/** Creates the keeper of idempotent answers. */
export function createIdempotency({ keys, clock, ttlSeconds, onKeepFailure }: IdempotencyDeps) {
  /**
   * Runs `answer` once per key: the first request runs and its answer is kept (unless it is a 5xx or `answer`
   * throws: then the key is released); a repeat with the same fingerprint gets the kept answer and runs nothing.
   * @throws DomainError `invalid_request`: 400 for a malformed key, 422 for a repeat with other content, 409 while
   *   the first request still runs (on any process)
   */
  async function once(request: IdempotentRequest, answer: () => Promise<KeptAnswer>): Promise<IdempotentOutcome> {
    if (!KEY.test(request.key)) throw invalidRequest("Invalid Idempotency-Key.");
    const owner = randomUUID();
    const now = clock.now();
    const held = await keys.claim(request, owner, {
      now,
      leaseUntil: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
    });
    if (held !== null) {
      if (held.fingerprint !== request.fingerprint) {
        throw new DomainError("invalid_request", {
          status: 422,
          description: "Idempotency-Key was used with a different request.",
        });
      }
      if (held.answer === null) {
        throw new DomainError("invalid_request", {
          status: 409,
          description: "A request with this Idempotency-Key is being processed.",
        });
      }
      return { answer: held.answer, replayed: true };
    }
    let result: KeptAnswer;
    try {
      result = await answer();
    } catch (error) {
      await keys.release(request, owner).catch(() => undefined);
      throw error;
    }
    try {
      if (result.status >= 500) await keys.release(request, owner);
      else await keys.keep(request, owner, result);
    } catch (error) {
      // The request did what it did: its answer goes out; a repeat meets the lease, then runs again.
      onKeepFailure?.(error);
    }
    return { answer: result, replayed: false };
  }

  /** Deletes keys that expired before now; returns how many. */
  const purgeExpired = (): Promise<number> => keys.purgeExpired(clock.now());

  return { once, purgeExpired };
}

/** A digest of JSON content that ignores the order of object keys: requests are "compared as parsed JSON". */
export function jsonFingerprint(value: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(canonical(value)))
    .digest("base64url");
}

/** Arrays and objects as tagged arrays (object entries sorted by key, so `__proto__` stays a key). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return ["a", value.map(canonical)];
  if (typeof value === "object" && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])]);
    return ["o", entries];
  }
  return value;
}
