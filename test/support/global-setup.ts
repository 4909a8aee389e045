import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { openEmbeddedDatabase } from "../../src/persistence/embedded.js";

// One embedded PostgreSQL server for the whole run when no TEST_DATABASE_URL is given: each test file creates its
// own database on it (test/support/database.ts), as it does on a PostgreSQL server.

declare module "vitest" {
  export interface ProvidedContext {
    /** The admin URL of the server test files create their databases on. */
    databaseServerUrl: string;
  }
}

export default async function setup(project: TestProject) {
  if (process.env.TEST_DATABASE_URL !== undefined) {
    project.provide("databaseServerUrl", process.env.TEST_DATABASE_URL);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "userinfo-test-server-"));
  // Room for two workers' files, each with a few pools, and the gateway processes of the end-to-end tests.
  const server = await openEmbeddedDatabase(dir, 300);
  project.provide("databaseServerUrl", server.url);
  return async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
}
