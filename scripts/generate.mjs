// Generates the Prisma client without network access: `prisma generate` only needs the schema engine path to
// exist (generation does not run it), so it is pointed at this Node binary. With --if-stale it does nothing when
// the client is newer than the schema. With --if-cli-installed (the postinstall hook) it does nothing when the
// Prisma CLI is not installed: `npm ci --omit=dev` on a built tree, whose dist/ already holds the compiled client.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};
const cli = "node_modules/prisma/build/index.js";
if (process.argv.includes("--if-cli-installed") && !existsSync(cli)) process.exit(0);
if (process.argv.includes("--if-stale") && mtime("src/generated/prisma/client.ts") > mtime("prisma/schema.prisma")) {
  process.exit(0);
}
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
};
const result = spawnSync(process.execPath, [cli, "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
