// Generates the Prisma client without network access: `prisma generate` only needs the schema engine path to
// exist (generation does not run it), so it is pointed at this Node binary. With --if-stale it does nothing when
// the client is newer than the schema.
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};
if (process.argv.includes("--if-stale") && mtime("src/generated/prisma/client.ts") > mtime("prisma/schema.prisma")) {
  process.exit(0);
}
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
};
const result = spawnSync(process.execPath, ["node_modules/prisma/build/index.js", "generate"], {
  stdio: "inherit",
  env,
});
process.exit(result.status ?? 1);
