import { createHash, randomUUID } from "node:crypto";
import { DomainError, invalidRequest } from "./errors.js";
import {
  type Clock,
  type HeldKey,
  type IdempotencyRepository,
  type IdempotentRequest,
  type KeptAnswer,
  type KeyClaim,
  KeyHeld,
} from "./ports.js";

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

/**
 * The key of a request being answered. A use case that would cause effects takes it first ({@link take}), or hands
 * `claim` to the write that claims it in its own statement; an answer that took nothing is kept when it is done.
 */
export interface Claim {
  /** The claim, for a write that makes it in its own statement and then says so ({@link claimed}). */
  readonly claim: KeyClaim;
  /** Records that a write claimed the key. */
  claimed(): void;
  /**
   * Claims the key now.
   * @throws KeyHeld when an earlier request holds it
   */
  take(): Promise<void>;
}

/** Requests with an `Idempotency-Key` (SPEC 5.2), for every face. */
export type Idempotency = ReturnType<typeof createIdempotency>;

const differentRequest = () =>
  new DomainError("invalid_request", {
    status: 422,
    description: "Idempotency-Key was used with a different request.",
  });
const stillRunning = () =>
  new DomainError("invalid_request", {
    status: 409,
    description: "A request with this Idempotency-Key is being processed.",
  });

/** Creates the keeper of idempotent answers. */
export function createIdempotency({ keys, clock, ttlSeconds, onKeepFailure }: IdempotencyDeps) {
  /** The outcome for a key an earlier request holds: its kept answer, or why there is none to give. */
  function fromHeld(request: IdempotentRequest, held: HeldKey | null): IdempotentOutcome {
    if (held !== null && held.fingerprint !== request.fingerprint) throw differentRequest();
    // Gone again by now (released after a 5xx): as good as still running - a repeat will run.
    if (held?.answer == null) throw stillRunning();
    return { answer: held.answer, replayed: true };
  }

  /**
   * Answers once per key: the first request runs `answer` and its answer is kept (unless it is a 5xx or `answer`
   * throws: then nothing is kept); a repeat with the same fingerprint gets the kept answer and runs nothing.
   * `answer` takes the key before any effect ({@link Claim}).
   * @throws DomainError `invalid_request`: 400 for a malformed key, 422 for a repeat with other content, 409 while
   *   the first request still runs (on any process)
   */
  async function once(
    request: IdempotentRequest,
    answer: (claim: Claim) => Promise<KeptAnswer>,
  ): Promise<IdempotentOutcome> {
    if (!KEY.test(request.key)) throw invalidRequest("Invalid Idempotency-Key.");
    const now = clock.now();
    const claim: KeyClaim = {
      request,
      owner: randomUUID(),
      now,
      leaseUntil: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
    };
    let taken = false;
    let heldBy: HeldKey | null = null;
    const take = async () => {
      if (taken) return;
      heldBy = await keys.claim(claim);
      // The repeat stops here, and gets what holds the key (below).
      if (heldBy !== null) throw new KeyHeld();
      taken = true;
    };
    let result: KeptAnswer;
    try {
      result = await answer({ claim, take, claimed: () => (taken = true) });
    } catch (error) {
      if (error instanceof KeyHeld) return fromHeld(request, heldBy ?? (await keys.held(request, now)));
      if (taken) await keys.release(request, claim.owner).catch(() => undefined);
      throw error;
    }
    if (!taken) {
      // Answered without an effect (a refused request): claimed and kept in one statement, unless a key is held.
      if (result.status >= 500) return { answer: result, replayed: false };
      const held = await keys.claim(claim, result);
      return held === null ? { answer: result, replayed: false } : fromHeld(request, held);
    }
    try {
      if (result.status >= 500) await keys.release(request, claim.owner);
      else await keys.keep(request, claim.owner, result);
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
  return createHash("sha256").update(canonicalJson(value)).digest("base64url");
}

type Step = { readonly text: string } | { readonly value: unknown };

/**
 * The JSON text of `value` with arrays and objects as tagged arrays - `["a",[...]]`, `["o",[[key,value],...]]`, object
 * entries sorted by key (so `__proto__` stays a key) - written without recursion: a 64 KiB body can nest tens of
 * thousands of levels, deeper than the call stack, and must get the answer it gets without a key, not a crash.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  const pending: Step[] = [{ value }];
  const later = (steps: Step[]) => {
    for (let i = steps.length - 1; i >= 0; i--) pending.push(steps[i]!);
  };
  while (pending.length > 0) {
    const step = pending.pop()!;
    if ("text" in step) {
      parts.push(step.text);
    } else if (Array.isArray(step.value)) {
      const steps: Step[] = [{ text: '["a",[' }];
      for (const [i, item] of step.value.entries()) steps.push(...(i > 0 ? [{ text: "," }] : []), { value: item });
      later([...steps, { text: "]]" }]);
    } else if (typeof step.value === "object" && step.value !== null) {
      const object = step.value as Record<string, unknown>;
      const steps: Step[] = [{ text: '["o",[' }];
      for (const [i, key] of Object.keys(object).sort().entries()) {
        steps.push({ text: `${i > 0 ? "," : ""}[${JSON.stringify(key)},` }, { value: object[key] }, { text: "]" });
      }
      later([...steps, { text: "]]" }]);
    } else {
      // As JSON.stringify writes a value inside an array: what JSON has no text for (undefined) as null.
      parts.push(JSON.stringify(step.value) ?? "null");
    }
  }
  return parts.join("");
}
