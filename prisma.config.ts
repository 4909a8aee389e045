import { defineConfig } from "prisma/config";

// Used by `prisma generate` only: migrations are applied by the project's own runner (src/persistence/migrations.ts).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
