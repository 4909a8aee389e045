import { DomainError, type ErrorCode } from "../domain/errors.js";
import { type Claim, type Idempotency, jsonFingerprint } from "../domain/idempotency.js";
import type { Principal } from "../domain/requesters.js";

/** How a mutation's result is kept as JSON and read back. */
export interface ResultCodec<T> {
  encode(value: T): unknown;
  decode(kept: unknown): T;
}

/** What is kept of a failure: enough to rebuild the same error, and so the same union member. */
interface KeptFailure {
  readonly code: ErrorCode;
  readonly status: number;
  readonly description?: string;
  readonly field?: string;
  readonly retryAfterSeconds?: number;
  readonly currentVersion?: number;
  readonly maxAgeSeconds?: number;
}

type Kept<T> = { readonly ok: T } | { readonly failure: KeptFailure };

const keptFailureOf = (error: DomainError): KeptFailure => ({
  code: error.code,
  status: error.status,
  ...(error.description !== undefined && { description: error.description }),
  ...(error.field !== undefined && { field: error.field }),
  ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
  ...(error.currentVersion !== undefined && { currentVersion: error.currentVersion }),
  ...(error.maxAgeSeconds !== undefined && { maxAgeSeconds: error.maxAgeSeconds }),
});

/**
 * Runs a mutation once per `idempotencyKey` (SPEC 5.2), scoped by mutation and caller: a repeat with the same input
 * gets the same result - value or domain failure - and runs nothing. Without a key the mutation just runs.
 * @throws DomainError the mutation's, or the key's (`invalid_request`: malformed, other input, still running)
 */
export async function idempotentMutation<T>(
  idempotency: Idempotency,
  mutation: string,
  principal: Principal,
  input: Readonly<Record<string, unknown>>,
  run: (key: Claim | undefined) => Promise<T>,
  codec: ResultCodec<T>,
): Promise<T> {
  const { idempotencyKey, ...content } = input;
  if (idempotencyKey === undefined || idempotencyKey === null) return run(undefined);
  const request = {
    scope: JSON.stringify(["graphql", mutation, "sub", principal.sub]),
    key: String(idempotencyKey),
    fingerprint: jsonFingerprint(content),
  };
  const { answer } = await idempotency.once(request, async (key) => {
    let kept: Kept<unknown>;
    try {
      kept = { ok: codec.encode(await run(key)) };
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      kept = { failure: keptFailureOf(error) };
    }
    const status = "ok" in kept ? 200 : kept.failure.status;
    return { status, headers: {}, body: JSON.stringify(kept) };
  });
  const kept = JSON.parse(answer.body) as Kept<unknown>;
  if ("ok" in kept) return codec.decode(kept.ok);
  const { code, ...options } = kept.failure;
  throw new DomainError(code, options);
}
