import type { RateLimitRepository } from "../../domain/ports.js";
import type { RateLimitEvent } from "../../generated/prisma/client.js";
import { type Database, Prisma } from "../database.js";

// Statements on `rate_limit_events`: one row per counted send and limit key.

/** The domain's {@link RateLimitRepository}: each check-and-count is its own transaction. */
export function rateLimitEventQueries(database: Database): RateLimitRepository {
  const db = database.executor;
  return {
    hit(limits, now) {
      const keys = [...new Set(limits.map((l) => l.key))].sort();
      return database.transaction(async (tx) => {
        // Serializes concurrent sends for the same keys across every gateway process. One statement takes every
        // lock, in key order (the sorted subquery feeds the calls one row at a time, in its order), rather than a
        // round trip per key.
        await tx.query(Prisma.sql`
          SELECT count(pg_advisory_xact_lock(hashtextextended(key, 0)))::int AS locked
          FROM (SELECT unnest(${keys}::text[]) AS key ORDER BY 1) AS ordered`);
        // Every limit counted by one statement, taken after the locks (so it sees the sends that held them), in the
        // order of `limits`: the first one exceeded is the answer, as when they were counted one by one.
        const counts = await tx.query<{ count: number; oldest: Date | null }>(Prisma.sql`
          SELECT count(e.id)::int AS count, min(e.created_at) AS oldest
          FROM unnest(${limits.map((l) => l.key)}::text[],
                      ${limits.map((l) => new Date(now.getTime() - l.windowSeconds * 1000).toISOString())}::timestamptz[])
               WITH ORDINALITY AS l(key, since, i)
          LEFT JOIN rate_limit_events e ON e.key = l.key AND e.created_at > l.since
          GROUP BY l.i ORDER BY l.i`);
        for (const [i, limit] of limits.entries()) {
          const { count, oldest } = counts[i]!;
          if (count >= limit.max && oldest !== null) {
            const retryAt = oldest.getTime() + limit.windowSeconds * 1000;
            return {
              allowed: false,
              limit,
              retryAfterSeconds: Math.max(1, Math.ceil((retryAt - now.getTime()) / 1000)),
            } as const;
          }
        }
        const rows = await tx.query<Pick<RateLimitEvent, "id">>(Prisma.sql`
          INSERT INTO rate_limit_events (key, created_at)
          SELECT unnest(${keys}::text[]), ${now} RETURNING id`);
        return { allowed: true, eventIds: rows.map((r) => r.id.toString()) } as const;
      });
    },
    async forget(eventIds) {
      await db.query(Prisma.sql`DELETE FROM rate_limit_events WHERE id = ANY(${[...eventIds]}::bigint[])`);
    },
    async purge(before) {
      const [row] = await db.query<{ count: number }>(Prisma.sql`
        WITH deleted AS (DELETE FROM rate_limit_events WHERE created_at < ${before} RETURNING 1)
        SELECT count(*)::int AS count FROM deleted`);
      return row?.count ?? 0;
    },
  };
}
