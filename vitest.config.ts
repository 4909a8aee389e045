import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Node loads graphql's CommonJS entry for the libraries (pothos, yoga); vite would give the project's own files the
    // .mjs one, and two graphql instances refuse each other's types. One entry for all.
    alias: [{ find: /^graphql$/, replacement: fileURLToPath(import.meta.resolve("graphql")) }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Tests that need a PostgreSQL server of their own run only when one is named.
    exclude:
      process.env.TEST_DATABASE_URL === undefined
        ? ["test/e2e/postgres.test.ts", "test/e2e/multi-process.test.ts"]
        : [],
    pool: "forks",
    // Each file opens its own database (an embedded PGlite of ~350-900 MB, or a fresh PostgreSQL database).
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
