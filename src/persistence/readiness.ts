import type { Readiness } from "../observability/readiness.js";
import type { Database } from "./database.js";
import { appliedChecksums, readMigrations } from "./migrations.js";

/** Ready when the database answers and every shipped migration is applied. */
export function databaseReadiness(database: Database): () => Promise<Readiness> {
  const shipped = readMigrations().map((m) => m.name);
  return async () => {
    let applied: Map<string, string>;
    try {
      applied = await appliedChecksums(database.pool);
    } catch {
      return { ready: false, reason: "database unreachable" };
    }
    const pending = shipped.filter((name) => !applied.has(name));
    return pending.length === 0
      ? { ready: true }
      : { ready: false, reason: `pending migrations: ${pending.join(", ")}` };
  };
}
