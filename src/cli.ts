import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { hashClientSecret } from "./auth/client-secrets.js";
import { devIssuerKeyFile, loadDevIssuer } from "./auth/dev-issuer.js";
import { ConfigError, loadConfig, readEnvironment, type Config } from "./config.js";
import {
  isEmailAddress,
  isReservedAttributeName,
  isValidPattern,
  normalizePhoneNumber,
  parseUpdateRequest,
} from "./domain/attributes.js";
import { DomainError } from "./domain/errors.js";
import { UniqueViolation, type Store } from "./domain/ports.js";
import { DataDirLockedError, readLockHolder } from "./persistence/data-dir-lock.js";
import { migrate } from "./persistence/migrations.js";
import { createPrismaClient } from "./persistence/prisma.js";
import { createPrismaStore } from "./persistence/store.js";
import { systemClock } from "./runtime.js";

const USAGE = `usage: npm run cli -- <command>        (a built or production tree: node dist/cli.js <command>)

  apps add <client_id> --secret <secret> --claims <a,b,c>   register (or replace) an application
  apps list                                                  list applications
  attributes add <name> --type string|number|boolean [--pattern <regex>] [--read-only]
                                                             define (or redefine) a custom attribute
  attributes list                                            list custom attributes
  users add <sub> [--email E] [--phone-number P] [--name N]  create a user
  token <sub> [--client-id ID] [--scope "openid ..."] [--ttl SECONDS] [--create-key]
                                                             print a development access token (signed with the
                                                             key in DATA_DIR; --create-key makes one if none)
  migrate                                                    apply pending migrations`;

/** A mistake in the command line or its values; printed without a stack. */
class UsageError extends Error {}

/**
 * Runs `work` with the URL of the configured database. With the embedded database, a running gateway holding the
 * data directory is reached through its socket server; otherwise the directory is opened (and locked) here.
 */
async function withDatabaseUrl<T>(config: Config, work: (url: string) => Promise<T>): Promise<T> {
  if (config.databaseUrl !== undefined) return work(config.databaseUrl);
  const holder = readLockHolder(config.dataDir);
  if (holder?.databaseUrl !== undefined) return work(holder.databaseUrl);
  const { openEmbeddedDatabase } = await import("./persistence/embedded.js");
  const embedded = await openEmbeddedDatabase(config.dataDir, 2);
  try {
    return await work(embedded.url);
  } finally {
    await embedded.close();
  }
}

/** Runs `work` on the migrated database's store. */
async function withStore<T>(config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  return withDatabaseUrl(config, async (url) => {
    await migrate(url);
    const prisma = createPrismaClient(url, 2);
    try {
      return await work(createPrismaStore(prisma));
    } finally {
      await prisma.$disconnect();
    }
  });
}

const splitList = (value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

async function main(argv: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      secret: { type: "string" },
      claims: { type: "string" },
      email: { type: "string" },
      "phone-number": { type: "string" },
      name: { type: "string" },
      "client-id": { type: "string" },
      scope: { type: "string" },
      ttl: { type: "string" },
      type: { type: "string" },
      pattern: { type: "string" },
      "read-only": { type: "boolean" },
      "create-key": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help === true || command === undefined) return USAGE;
  const config = loadConfig(readEnvironment().env);

  switch (`${command} ${command === "apps" || command === "attributes" || command === "users" ? sub : ""}`.trim()) {
    case "apps add": {
      if (arg === undefined || values.secret === undefined || values.claims === undefined) {
        throw new UsageError("apps add needs <client_id>, --secret and --claims");
      }
      const claims = splitList(values.claims);
      const secretHash = await hashClientSecret(values.secret);
      await withStore(config, (store) => store.applications.save({ clientId: arg, secretHash, claims }));
      return `application ${arg} saved with claims ${claims.join(",")}`;
    }
    case "apps list": {
      const apps = await withStore(config, (store) => store.applications.list());
      return apps.map((a) => `${a.clientId}\t${a.claims.join(",")}`).join("\n") || "(no applications)";
    }
    case "attributes add": {
      const type = values.type;
      if (arg === undefined || (type !== "string" && type !== "number" && type !== "boolean")) {
        throw new UsageError("attributes add needs <name> and --type string|number|boolean");
      }
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(arg) || isReservedAttributeName(arg)) {
        throw new UsageError(`${arg} cannot name a custom attribute (reserved, or not [A-Za-z_][A-Za-z0-9_]*)`);
      }
      const pattern = values.pattern ?? null;
      if (pattern !== null && (type !== "string" || !isValidPattern(pattern))) {
        throw new UsageError("--pattern must be a valid regular expression, for string attributes only");
      }
      const definition = { name: arg, type, pattern, writable: values["read-only"] !== true } as const;
      await withStore(config, (store) => store.customAttributes.save(definition));
      return `attribute ${arg} saved`;
    }
    case "attributes list": {
      const definitions = await withStore(config, (store) => store.customAttributes.list());
      return (
        definitions
          .map((d) => `${d.name}\t${d.type}\t${d.writable ? "writable" : "read-only"}\t${d.pattern ?? ""}`)
          .join("\n") || "(no custom attributes)"
      );
    }
    case "users add": {
      if (sub === undefined || arg === undefined) throw new UsageError("users add needs <sub>");
      const phoneNumber = values["phone-number"] === undefined ? undefined : normalizePhoneNumber(values["phone-number"]);
      if (values["phone-number"] !== undefined && phoneNumber === undefined) throw new UsageError("malformed phone number");
      if (values.email !== undefined && !isEmailAddress(values.email)) throw new UsageError("malformed email");
      const name = values.name === undefined ? undefined : parseName(values.name);
      const user = { sub: arg, email: values.email, phoneNumber, name, createdAt: systemClock.now() };
      await withStore(config, async (store) => {
        if ((await store.users.find(arg)) !== null) throw new UsageError(`user ${arg} exists already`);
        await store.users.create(user);
      });
      return `user ${arg} created`;
    }
    case "token": {
      if (sub === undefined) throw new UsageError("token needs <sub>");
      if (!config.auth.devIssuer) throw new UsageError("token works with the development issuer only (no AUTH_JWKS_*)");
      const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
      if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) throw new UsageError("--ttl must be a positive integer");
      // A token signed with a key no gateway uses would fail with "Error decoding JWT": only a gateway's data
      // directory holds the right key (the gateway creates it on its first start).
      if (values["create-key"] !== true && !existsSync(devIssuerKeyFile(config.dataDir))) {
        throw new UsageError(
          `no development key in DATA_DIR=${config.dataDir}: set DATA_DIR to the data directory of the gateway that ` +
            "should accept the token (it creates the key on its first start), or pass --create-key to create one there",
        );
      }
      const issuer = await loadDevIssuer(config.dataDir);
      return issuer.mint({
        sub,
        issuer: config.auth.issuer,
        audience: config.auth.audience,
        clientId: values["client-id"] ?? "demo",
        scope: values.scope,
        ttlSeconds: ttl,
      });
    }
    case "migrate": {
      const applied = await withDatabaseUrl(config, (url) => migrate(url));
      return applied.length > 0 ? `applied ${applied.join(", ")}` : "database is up to date";
    }
    default:
      throw new UsageError(`unknown command: ${positionals.join(" ")}\n\n${USAGE}`);
  }
}

function parseName(name: string): string {
  const parsed = parseUpdateRequest({ name }, []).profile.name;
  if (typeof parsed !== "string") throw new UsageError("illegal name");
  return parsed;
}

try {
  process.stdout.write(`${await main(process.argv.slice(2))}\n`);
  process.exit(0);
} catch (error) {
  const known =
    error instanceof UsageError ||
    error instanceof ConfigError ||
    error instanceof DataDirLockedError ||
    error instanceof DomainError ||
    (error instanceof TypeError && (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true);
  if (error instanceof UniqueViolation) process.stderr.write(`error: ${error.attribute} is already taken\n`);
  else if (known) process.stderr.write(`error: ${(error as Error).message}\n`);
  else process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}

