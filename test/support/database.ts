import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openEmbeddedDatabase } from "../../src/persistence/embedded.js";

/** A fresh, empty database for one test file. */
export interface TestDatabase {
  readonly url: string;
  readonly kind: "postgresql" | "embedded";
  close(): Promise<void>;
}

/** The PostgreSQL server tests run against when `TEST_DATABASE_URL` is set; else tests use the embedded database. */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL;

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Creates a fresh database: a new database on the `TEST_DATABASE_URL` server (dropped on close), or an embedded
 * PGlite in a temporary directory.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (testDatabaseUrl !== undefined) {
    const name = `userinfo_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return {
      url: withDatabaseName(testDatabaseUrl, name),
      kind: "postgresql",
      close: async () => {
        const client = new pg.Client({ connectionString: testDatabaseUrl });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "userinfo-test-"));
  const embedded = await openEmbeddedDatabase(dir, 12);
  return {
    url: embedded.url,
    kind: "embedded",
    close: async () => {
      await embedded.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
