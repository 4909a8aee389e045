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
    // The container image test installs ~700 MB: collected in the runs on a named PostgreSQL server, as root only.
    exclude:
      process.env.TEST_DATABASE_URL === undefined || process.getuid?.() !== 0
        ? ["test/e2e/container-image.test.ts"]
        : [],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    // Each file creates its own database on the run's server (embedded, or TEST_DATABASE_URL's).
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
