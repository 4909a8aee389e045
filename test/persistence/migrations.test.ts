import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MIGRATIONS_DIR,
  MigrationChecksumError,
  migrate,
  pendingMigrations,
  readMigrations,
} from "../../src/persistence/migrations.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

let database: TestDatabase;
let dir: string;

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeEach(async () => {
  database = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "migrations-"));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
});
afterEach(async () => {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => undefined);

describe("migrations runner", () => {
  it("applies every migration to a fresh database and records it as Prisma does", async () => {
    const names = readMigrations(dir).map((m) => m.name);
    expect(await pendingMigrations(database.url, dir)).toEqual(names);
    expect(await migrate(database.url, dir)).toEqual(names);
    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => r.migration_name)).toEqual(names);
    expect(rows.every((r) => r.finished_at !== null && /^[0-9a-f]{64}$/.test(r.checksum))).toBe(true);
    const tables = await query<{ tablename: string }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    );
    expect(tables.map((t) => t.tablename)).toEqual(
      expect.arrayContaining(["users", "otp_challenges", "applications", "custom_attribute_definitions"]),
    );
    expect(await pendingMigrations(database.url, dir)).toEqual([]);
  });

  it("applies nothing when run again", async () => {
    await migrate(database.url, dir);
    expect(await migrate(database.url, dir)).toEqual([]);
    expect(await query(`SELECT 1 FROM "_prisma_migrations"`)).toHaveLength(readMigrations(dir).length);
  });

  it("applies a new migration after the applied ones", async () => {
    await migrate(database.url, dir);
    const name = "29991231000000_add_probe";
    cpSync(join(dir, readMigrations(dir)[0]!.name), join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, "migration.sql"), `CREATE TABLE "probe" ("id" INTEGER PRIMARY KEY);`);
    expect(await migrate(database.url, dir)).toEqual([name]);
    expect(await query(`SELECT * FROM probe`)).toEqual([]);
  });

  it("refuses to run when an applied migration was edited", async () => {
    await migrate(database.url, dir);
    const first = readMigrations(dir)[0]!.name;
    appendFileSync(join(dir, first, "migration.sql"), "\n-- edited\n");
    await expect(migrate(database.url, dir)).rejects.toBeInstanceOf(MigrationChecksumError);
    await expect(migrate(database.url, dir)).rejects.toThrow(`migration ${first} was edited after it was applied`);
  });

  it("rolls back a failing migration whole and records nothing", async () => {
    await migrate(database.url, dir);
    const name = "29991231000000_broken";
    cpSync(join(dir, readMigrations(dir)[0]!.name), join(dir, name), { recursive: true });
    writeFileSync(
      join(dir, name, "migration.sql"),
      `CREATE TABLE "half" ("id" INTEGER);\nSELECT * FROM no_such_table;`,
    );
    await expect(migrate(database.url, dir)).rejects.toThrow(`migration ${name} failed`);
    expect(await query(`SELECT to_regclass('half') AS t`)).toEqual([{ t: null }]);
    expect(await pendingMigrations(database.url, dir)).toEqual([name]);
  });

  it("applies each migration once when many processes start at the same time", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(database.url, dir)));
    expect(results.flat()).toEqual(readMigrations(dir).map((m) => m.name));
    expect(await query(`SELECT 1 FROM "_prisma_migrations"`)).toHaveLength(readMigrations(dir).length);
  });
});
