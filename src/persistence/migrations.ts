import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import pg from "pg";

/**
 * The folder of Prisma-layout migrations shipped with the gateway: `prisma/migrations` in the nearest folder above this
 * module, which is `src/persistence/` in development and a bundle in `dist/` (or `dist/chunks/`) when built.
 */
export const MIGRATIONS_DIR = findUp(import.meta.dirname, join("prisma", "migrations"));

function findUp(from: string, path: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, path))) return join(dir, path);
    if (dirname(dir) === dir) return resolve(from, "../..", path);
  }
}

// Any constant shared by every gateway process; pg_advisory_lock serializes concurrent starts.
const ADVISORY_LOCK_KEY = 7_140_281_128;

/** An applied migration whose file changed since: the database no longer matches the code. */
export class MigrationChecksumError extends Error {
  override name = "MigrationChecksumError";
  constructor(readonly migration: string) {
    super(`migration ${migration} was edited after it was applied; restore it and add a new migration instead`);
  }
}

interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** The migrations in `dir`, in order: one folder each, holding `migration.sql`. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

// The table `prisma migrate` keeps, so that a database migrated here stays readable by Prisma's own tooling.
const CREATE_HISTORY = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

/**
 * Applies pending migrations in order, one transaction each, under an advisory lock so that concurrent starts
 * apply each migration once. Refuses to run when an applied migration was edited.
 * @returns the names of the migrations applied now.
 * @throws MigrationChecksumError
 */
export async function migrate(connectionString: string, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = readMigrations(dir);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [ADVISORY_LOCK_KEY]);
    try {
      await client.query(CREATE_HISTORY);
      const applied = await appliedChecksums(client);
      const pending = migrations.filter((m) => {
        const checksum = applied.get(m.name);
        if (checksum !== undefined && checksum !== m.checksum) throw new MigrationChecksumError(m.name);
        return checksum === undefined;
      });
      const appliedNow: string[] = [];
      for (const migration of pending) {
        await client.query("BEGIN");
        try {
          // Checked again inside the transaction: the embedded database has one session for every connection, so
          // the advisory lock cannot exclude another connection there - its transactions can.
          const done = await client.query(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1`, [
            migration.name,
          ]);
          if (done.rowCount === 0) {
            await client.query(migration.sql);
            await client.query(
              `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
               VALUES ($1, $2, $3, now(), now(), 1)`,
              [randomUUID(), migration.checksum, migration.name],
            );
            appliedNow.push(migration.name);
          }
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK");
          throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
        }
      }
      return appliedNow;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [ADVISORY_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/** Names of the shipped migrations not yet applied to the database (for readiness checks). */
export async function pendingMigrations(connectionString: string, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS exists`);
    const applied = exists.rows[0]?.exists === true ? await appliedChecksums(client) : new Map<string, string>();
    return readMigrations(dir)
      .filter((m) => !applied.has(m.name))
      .map((m) => m.name);
  } finally {
    await client.end();
  }
}

/** The applied migrations and their checksums, read through any pg client or pool. */
export async function appliedChecksums(client: Pick<pg.Pool, "query"> | pg.Client): Promise<Map<string, string>> {
  const rows = await client.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  return new Map(rows.rows.map((r) => [r.migration_name, r.checksum]));
}
