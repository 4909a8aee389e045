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
        // Serializes concurrent sends for the same keys across every gateway process (locks taken in key order).
        for (const key of keys)
          await tx.query(Prisma.sql`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
        for (const limit of limits) {
          const since = new Date(now.getTime() - limit.windowSeconds * 1000);
          const [{ count, oldest }] = (await tx.query<{ count: number; oldest: Date | null }>(Prisma.sql`
            SELECT count(*)::int AS count, min(created_at) AS oldest FROM rate_limit_events
            WHERE key = ${limit.key} AND created_at > ${since}`)) as [{ count: number; oldest: Date | null }];
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
