import type { PrismaClient } from "../generated/prisma/client.js";
import { readMigrations } from "./migrations.js";
import { poolOf } from "./prisma.js";

/** Whether this process should get traffic, and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** Ready when the database answers and every shipped migration is applied. */
export function databaseReadiness(prisma: PrismaClient): () => Promise<Readiness> {
  const shipped = readMigrations().map((m) => m.name);
  // Straight on the pool: through Prisma, the first check would load its query compiler (~300 ms of CPU) on the way
  // to the first healthy answer.
  const pool = poolOf(prisma);
  const query = `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  return async () => {
    let applied: Set<string>;
    try {
      const rows: { migration_name: string }[] =
        pool === undefined
          ? await prisma.$queryRawUnsafe(query)
          : (await pool.query<{ migration_name: string }>(query)).rows;
      applied = new Set(rows.map((r) => r.migration_name));
    } catch {
      return { ready: false, reason: "database unreachable" };
    }
    const pending = shipped.filter((name) => !applied.has(name));
    return pending.length === 0 ? { ready: true } : { ready: false, reason: `pending migrations: ${pending.join(", ")}` };
  };
}
