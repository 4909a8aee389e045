import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A fresh, empty database for one test file. */
export interface TestDatabase {
  readonly url: string;
  readonly kind: "postgresql" | "embedded";
  close(): Promise<void>;
}

/** The PostgreSQL server tests run against: `TEST_DATABASE_URL`, else the embedded server of this run. */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL;

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Creates a fresh database on the run's server (the `TEST_DATABASE_URL` server, or the embedded server the global
 * setup started); dropped on close.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = inject("databaseServerUrl");
  const name = `userinfo_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: withDatabaseName(server, name),
    kind: testDatabaseUrl === undefined ? "embedded" : "postgresql",
    close: async () => {
      const client = new pg.Client({ connectionString: server });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
