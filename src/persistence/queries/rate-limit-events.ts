import type { RateLimitRepository } from "../../domain/ports.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `rate_limit_events`: one row per counted send and limit key.

/** The domain's {@link RateLimitRepository}: each check-and-count is one statement, its own transaction. */
export function rateLimitEventQueries(db: Executor): RateLimitRepository {
  return {
    async hit(limits, now) {
      // One statement: the `rate_limit_hit` function (its migration says how it serializes concurrent sends for the
      // same keys across every gateway process, why its counts see them all, and when a limit is reached).
      const [row] = await db.query<{ reached: number | null; oldest: Date | null; eventIds: string[] | null }>(
        Prisma.sql`
          SELECT reached, oldest, event_ids AS "eventIds"
          FROM rate_limit_hit(${[...new Set(limits.map((l) => l.key))]}::text[],
                              ${limits.map((l) => l.key)}::text[],
                              ${limits.map((l) => new Date(now.getTime() - l.windowSeconds * 1000).toISOString())}::timestamptz[],
                              ${limits.map((l) => l.max)}::bigint[], ${now})`,
      );
      const { reached, oldest, eventIds } = row!;
      if (reached === null) return { allowed: true, eventIds: eventIds! } as const;
      const limit = limits[reached - 1]!;
      const retryAt = oldest!.getTime() + limit.windowSeconds * 1000;
      return {
        allowed: false,
        limit,
        retryAfterSeconds: Math.max(1, Math.ceil((retryAt - now.getTime()) / 1000)),
      } as const;
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
