import type { HeldKey, IdempotencyRepository, IdempotentRequest, KeptAnswer, KeyClaim } from "../../domain/ports.js";
import { batched } from "../batch.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `idempotency_keys`. Claims and kept answers of concurrent requests share one statement each
// (`batched`): a keyed request costs its own write plus a share of two statements. Keeping an answer changes no
// indexed column (a HOT update; see the migration).

interface HeldRow {
  fingerprint: string;
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
}

const heldOf = (row: HeldRow): HeldKey => ({
  fingerprint: row.fingerprint,
  answer: row.status === null ? null : { status: row.status, headers: row.headers ?? {}, body: row.body ?? "" },
});

interface ClaimRow {
  readonly claim: KeyClaim;
  readonly answer: KeptAnswer | undefined;
}

/** The assignments that take over a key's row, and when a row may be taken over: it expired, or its claim was
 * abandoned (no answer after the lease). Shared with the write that claims a key in its own statement. */
export const TAKE_OVER = Prisma.raw(`fingerprint = EXCLUDED.fingerprint, owner = EXCLUDED.owner,
  lease_until = EXCLUDED.lease_until, status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,
  expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at`);
export const EXPIRED = Prisma.raw(`idempotency_keys.expires_at <= EXCLUDED.created_at
  OR (idempotency_keys.status IS NULL AND idempotency_keys.lease_until <= EXCLUDED.created_at)`);

const identity = ({ scope, key }: Pick<IdempotentRequest, "scope" | "key">) => JSON.stringify([scope, key]);

/** The domain's {@link IdempotencyRepository} on `db` (statements outside transactions). */
export function idempotencyKeyQueries(db: Executor): IdempotencyRepository {
  /** Claims each key unless a live row holds it (an expired row, or a claim abandoned past its lease, is taken over). */
  const claimAll = batched<ClaimRow, boolean>(async (rows) => {
    // A key twice in one batch: the later request finds the earlier one running.
    const first = new Map<string, ClaimRow>();
    for (const row of rows) if (!first.has(identity(row.claim.request))) first.set(identity(row.claim.request), row);
    const unique = [...first.values()];
    const claims = unique.map((row) => row.claim);
    const claimed = await db.query<{ scope: string; key: string }>(Prisma.sql`
      INSERT INTO idempotency_keys
        (scope, key, fingerprint, owner, lease_until, expires_at, created_at, status, headers, body)
      SELECT scope, key, fingerprint, owner, lease_until, expires_at, created_at, status, headers::jsonb, body
      FROM unnest(
        ${claims.map((c) => c.request.scope)}::text[], ${claims.map((c) => c.request.key)}::text[],
        ${claims.map((c) => c.request.fingerprint)}::text[], ${claims.map((c) => c.owner)}::uuid[],
        ${claims.map((c) => c.leaseUntil)}::timestamptz[], ${claims.map((c) => c.expiresAt)}::timestamptz[],
        ${claims.map((c) => c.now)}::timestamptz[], ${unique.map((r) => r.answer?.status ?? null)}::int[],
        ${unique.map((r) => (r.answer === undefined ? null : JSON.stringify(r.answer.headers)))}::text[],
        ${unique.map((r) => r.answer?.body ?? null)}::text[]
      ) AS v(scope, key, fingerprint, owner, lease_until, expires_at, created_at, status, headers, body)
      ON CONFLICT (scope, key) DO UPDATE SET ${TAKE_OVER}
      WHERE ${EXPIRED}
      RETURNING scope, key`);
    const won = new Set(claimed.map(identity));
    return rows.map((row) => won.has(identity(row.claim.request)) && first.get(identity(row.claim.request)) === row);
  });

  const keepAll = batched<{ request: IdempotentRequest; owner: string; answer: KeptAnswer }, void>(async (rows) => {
    await db.query(Prisma.sql`
      UPDATE idempotency_keys AS k SET status = v.status, headers = v.headers::jsonb, body = v.body
      FROM unnest(
        ${rows.map((r) => r.request.scope)}::text[], ${rows.map((r) => r.request.key)}::text[],
        ${rows.map((r) => r.owner)}::uuid[], ${rows.map((r) => r.answer.status)}::int[],
        ${rows.map((r) => JSON.stringify(r.answer.headers))}::text[], ${rows.map((r) => r.answer.body)}::text[]
      ) AS v(scope, key, owner, status, headers, body)
      WHERE k.scope = v.scope AND k.key = v.key AND k.owner = v.owner`);
    return rows.map(() => undefined);
  });

  /** What holds a key now, if anything live does. */
  const held = async ({ scope, key }: IdempotentRequest, now: Date): Promise<HeldKey | null> => {
    const [row] = await db.query<HeldRow>(Prisma.sql`
      SELECT fingerprint, status, headers, body FROM idempotency_keys
      WHERE scope = ${scope} AND key = ${key} AND expires_at > ${now}
        AND (status IS NOT NULL OR lease_until > ${now})`);
    return row === undefined ? null : heldOf(row);
  };

  return {
    async claim(claim, answer) {
      // Twice at most: a row seen as taken may be released (or expire) before it is read.
      for (let attempt = 0; attempt < 2; attempt++) {
        if (await claimAll({ claim, answer })) return null;
        const holder = await held(claim.request, claim.now);
        if (holder !== null) return holder;
      }
      // Released and claimed again in between, twice: as busy as a request still running.
      return { fingerprint: claim.request.fingerprint, answer: null };
    },
    held,
    keep: (request, owner, answer) => keepAll({ request, owner, answer }),
    async release({ scope, key }, owner) {
      await db.query(
        Prisma.sql`DELETE FROM idempotency_keys WHERE scope = ${scope} AND key = ${key} AND owner = ${owner}::uuid`,
      );
    },
    async purgeExpired(before) {
      const rows = await db.query<{ n: number }>(Prisma.sql`
        WITH purged AS (
          DELETE FROM idempotency_keys
          WHERE expires_at < ${before} OR (status IS NULL AND lease_until < ${before})
          RETURNING 1
        )
        SELECT count(*)::int AS n FROM purged`);
      return rows[0]?.n ?? 0;
    },
  };
}
