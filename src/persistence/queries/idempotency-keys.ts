import type { HeldKey, IdempotencyRepository, KeptAnswer } from "../../domain/ports.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `idempotency_keys`. Keeping an answer changes no indexed column (a HOT update; see the migration).

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

/** The domain's {@link IdempotencyRepository} on `db`. */
export function idempotencyKeyQueries(db: Executor): IdempotencyRepository {
  return {
    async claim({ scope, key, fingerprint }, owner, { now, leaseUntil, expiresAt }) {
      // Twice at most: a row seen as taken may be released (or expire) before it is read.
      for (let attempt = 0; attempt < 2; attempt++) {
        // An expired row, or a claim abandoned past its lease, is taken over by the same statement: one round trip.
        const claimed = await db.query(Prisma.sql`
          INSERT INTO idempotency_keys (scope, key, fingerprint, owner, lease_until, expires_at, created_at)
          VALUES (${scope}, ${key}, ${fingerprint}, ${owner}::uuid, ${leaseUntil}, ${expiresAt}, ${now})
          ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, owner = EXCLUDED.owner,
            lease_until = EXCLUDED.lease_until, status = NULL, headers = NULL, body = NULL,
            expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at
          WHERE idempotency_keys.expires_at <= EXCLUDED.created_at
             OR (idempotency_keys.status IS NULL AND idempotency_keys.lease_until <= EXCLUDED.created_at)
          RETURNING 1`);
        if (claimed.length === 1) return null;
        const [held] = await db.query<HeldRow>(Prisma.sql`
          SELECT fingerprint, status, headers, body FROM idempotency_keys
          WHERE scope = ${scope} AND key = ${key} AND expires_at > ${now}
            AND (status IS NOT NULL OR lease_until > ${now})`);
        if (held !== undefined) return heldOf(held);
      }
      // Released and claimed again in between, twice: as busy as a request still running.
      return { fingerprint, answer: null };
    },
    async keep({ scope, key }, owner, answer: KeptAnswer) {
      await db.query(Prisma.sql`
        UPDATE idempotency_keys SET status = ${answer.status}, headers = ${JSON.stringify(answer.headers)}::jsonb,
          body = ${answer.body}
        WHERE scope = ${scope} AND key = ${key} AND owner = ${owner}::uuid`);
    },
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
