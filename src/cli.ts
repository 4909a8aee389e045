import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { hashClientSecret } from "./auth/client-secrets.js";
import { devIssuerKeyFile, loadDevIssuer } from "./auth/dev-issuer.js";
import { type Config, ConfigError, loadConfig, readEnvironment, splitList } from "./config.js";
import {
  isEmailAddress,
  isReservedAttributeName,
  isValidPattern,
  normalizePhoneNumber,
  profileRules,
  STANDARD_CLAIMS,
} from "./domain/attributes.js";
import { DomainError, UnavailableError } from "./domain/errors.js";
import { isOutboxStatus } from "./domain/events.js";
import { type Store, UniqueViolation } from "./domain/ports.js";
import { createLogger } from "./logger.js";
import { EmbeddedDatabaseError, runningEmbeddedUrl } from "./persistence/embedded.js";

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
  events list [--status pending|delivered|dead] [--limit N]  list change events and notices (newest first)
  events redeliver <id>                                      deliver a dead (or delivered) event again
  migrate                                                    apply pending migrations
  db url                                                     print the database URL (e.g. for pg_dump)`;

/** A mistake in the command line or its values; printed without a stack. */
class UsageError extends Error {}

/**
 * The configured, migrated database, opened by the gateway's composition root (no server). Loaded on demand: `token`
 * needs no database, and the root brings in the whole gateway.
 */
async function openDatabase(config: Config) {
  const { openOperatorDatabase } = await import("./app.js");
  return openOperatorDatabase(config, createLogger("silent"));
}

/** Runs `work` on the store of the configured database. */
async function withStore<T>(config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  const database = await openDatabase(config);
  try {
    return await work(database.store);
  } finally {
    await database.close();
  }
}

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
      status: { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help === true || command === undefined) return USAGE;
  const config = loadConfig(readEnvironment().env);

  switch (`${command} ${["apps", "attributes", "users", "db", "events"].includes(command) ? sub : ""}`.trim()) {
    case "apps add": {
      if (arg === undefined || values.secret === undefined || values.claims === undefined) {
        throw new UsageError("apps add needs <client_id>, --secret and --claims");
      }
      // An empty secret would let anyone authenticate as the application with an empty password.
      if (values.secret.trim().length === 0) throw new UsageError("--secret must not be empty");
      if (arg.trim().length === 0 || arg.includes(":"))
        throw new UsageError("<client_id> must be non-empty, without ':'");
      const claims = splitList(values.claims);
      if (claims.length === 0) throw new UsageError("--claims needs at least one claim, e.g. --claims name,email");
      const secretHash = await hashClientSecret(values.secret);
      await withStore(config, async (store) => {
        const known = new Set<string>([
          ...STANDARD_CLAIMS,
          ...(await store.customAttributes.list()).map((d) => d.name),
        ]);
        const unknown = claims.filter((claim) => !known.has(claim));
        if (unknown.length > 0) {
          throw new UsageError(
            `unknown claim(s): ${unknown.join(", ")} (standard claims, or custom attributes defined with \`attributes add\`)`,
          );
        }
        await store.applications.save({ clientId: arg, secretHash, claims });
      });
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
      const phoneNumber =
        values["phone-number"] === undefined ? undefined : normalizePhoneNumber(values["phone-number"]);
      if (values["phone-number"] !== undefined && phoneNumber === undefined)
        throw new UsageError("malformed phone number");
      if (values.email !== undefined && !isEmailAddress(values.email)) throw new UsageError("malformed email");
      const name = values.name === undefined ? undefined : parseName(values.name);
      const user = { sub: arg, email: values.email, phoneNumber, name, createdAt: new Date() };
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
      if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0))
        throw new UsageError("--ttl must be a positive integer");
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
    case "events list": {
      const status = values.status;
      if (status !== undefined && !isOutboxStatus(status)) {
        throw new UsageError("--status must be pending, delivered or dead");
      }
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!(Number.isInteger(limit) && limit > 0)) throw new UsageError("--limit must be a positive integer");
      const entries = await withStore(config, (store) => store.outbox.list({ status, limit }));
      const header = "id\ttype\tsub\tversion\tstatus\tattempts\tcreated\tnext attempt\tlast error";
      return entries.length === 0
        ? "(no events)"
        : [
            header,
            ...entries.map((e) =>
              [
                e.id,
                e.type,
                e.sub,
                e.version,
                e.status,
                e.attempts,
                e.createdAt.toISOString(),
                e.status === "pending" ? e.nextAttemptAt.toISOString() : "-",
                e.lastError ?? "",
              ].join("\t"),
            ),
          ].join("\n");
    }
    case "events redeliver": {
      if (arg === undefined || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(arg)) {
        throw new UsageError("events redeliver needs the <id> of an event (a UUID, as events list shows it)");
      }
      const done = await withStore(config, (store) => store.outbox.redeliver(arg, new Date()));
      if (!done) {
        throw new UsageError(
          `no dead or delivered event ${arg} to redeliver (a delivered notice cannot be sent again: its revert link is no longer stored)`,
        );
      }
      return `event ${arg} is pending again: a running gateway delivers it within a second`;
    }
    case "migrate": {
      const database = await openDatabase(config);
      await database.close();
      return database.applied.length > 0 ? `applied ${database.applied.join(", ")}` : "database is up to date";
    }
    case "db url": {
      if (config.databaseUrl !== undefined) return config.databaseUrl;
      const url = runningEmbeddedUrl(config.dataDir);
      if (url === undefined) {
        throw new UsageError("no embedded database server runs for this DATA_DIR: start the gateway (npm start) first");
      }
      return url;
    }
    default:
      throw new UsageError(`unknown command: ${positionals.join(" ")}\n\n${USAGE}`);
  }
}

function parseName(name: string): string {
  const parsed = profileRules.name(name);
  if (parsed === undefined) throw new UsageError("illegal name");
  return parsed;
}

/** A database that refused or dropped the connection, or is not there: said in one line, not with a stack. */
function unreachable(error: unknown): boolean {
  if (error instanceof UnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" &&
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|08|28|3D|53|57)/.test(code)
  );
}

try {
  process.stdout.write(`${await main(process.argv.slice(2))}\n`);
  process.exit(0);
} catch (error) {
  const known =
    error instanceof UsageError ||
    error instanceof ConfigError ||
    error instanceof EmbeddedDatabaseError ||
    error instanceof DomainError ||
    (error instanceof TypeError && (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true);
  if (error instanceof UniqueViolation) process.stderr.write(`error: ${error.attribute} is already taken\n`);
  else if (unreachable(error)) {
    process.stderr.write(`error: the database cannot be reached (${(error as Error).message}): check DATABASE_URL\n`);
  } else if (known) process.stderr.write(`error: ${(error as Error).message}\n`);
  else process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
