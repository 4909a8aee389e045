import type { PrismaClient } from "../generated/prisma/client.js";
import { readMigrations } from "./migrations.js";

/** Whether this process should get traffic, and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** Ready when the database answers and every shipped migration is applied. */
export function databaseReadiness(prisma: PrismaClient): () => Promise<Readiness> {
  const shipped = readMigrations().map((m) => m.name);
  return async () => {
    let applied: Set<string>;
    try {
      const rows = await prisma.$queryRaw<{ migration_name: string }[]>`
        SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
      applied = new Set(rows.map((r) => r.migration_name));
    } catch {
      return { ready: false, reason: "database unreachable" };
    }
    const pending = shipped.filter((name) => !applied.has(name));
    return pending.length === 0 ? { ready: true } : { ready: false, reason: `pending migrations: ${pending.join(", ")}` };
  };
}
