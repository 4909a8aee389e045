import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import { z } from "zod";
import { webhookSigningKey } from "./delivery/events-webhook.js";

const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .optional()
    .transform((v) => (v === undefined ? fallback : v === "true" || v === "1" || v === "yes"));

/** The items of a comma-separated list, trimmed, empty ones dropped. */
export const splitList = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const list = z
  .string()
  .optional()
  .transform((v) => (v === undefined ? undefined : splitList(v)));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATA_DIR: z.string().min(1).default("./.data"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  DATABASE_POOL_SIZE: positiveInt(10),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWKS_FILE: z.string().min(1).optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  AUTH_DEV_ISSUER: bool(false),
  JIT_PROVISIONING: bool(true),
  DEFAULT_CLAIMS: list,
  OTP_DELIVERY: z.enum(["log", "webhook", "smtp"]).default("log"),
  ALLOW_LOG_DELIVERY: bool(false),
  OTP_WEBHOOK_URL: z.url().optional(),
  OTP_WEBHOOK_SECRET: z.string().min(1).optional(),
  OTP_WEBHOOK_TIMEOUT_MS: positiveInt(5000),
  SMTP_URL: z.string().min(1).optional(),
  EVENTS_WEBHOOK_URL: z.url().optional(),
  EVENTS_WEBHOOK_SECRET: z.string().min(1).optional(),
  EVENTS_WEBHOOK_TIMEOUT_MS: positiveInt(5000),
  PUBLIC_URL: z.url().optional(),
  REVERT_TTL_SECONDS: positiveInt(604_800),
  SMTP_FROM: z.string().min(1).optional(),
  OTP_TARGET_INTERVAL_SECONDS: positiveInt(30),
  OTP_TARGET_DAILY_LIMIT: positiveInt(50),
  OTP_CLIENT_LIMIT: positiveInt(1000),
  OTP_IP_LIMIT: positiveInt(200),
  OTP_WINDOW_SECONDS: positiveInt(600),
  TRUST_PROXY: bool(false),
  TOKEN_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  LOOKUP_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5_000),
  IDEMPOTENCY_TTL_SECONDS: positiveInt(86_400),
  STEP_UP_MAX_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .or(z.literal("").transform(() => undefined)),
  CLAIMS_BY_SCOPE: bool(false),
  CORS_ORIGINS: list,
  SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  GRAPHIQL: z.enum(["true", "false", "1", "0", "yes", "no"]).optional(),
  GRAPHQL_INTROSPECTION: z.enum(["true", "false", "1", "0", "yes", "no"]).optional(),
  API_DOCS: z.enum(["true", "false", "1", "0", "yes", "no"]).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
});

/** The gateway's configuration, parsed once from the environment and frozen. */
export interface Config {
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** `undefined`: the embedded database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  readonly auth: {
    readonly jwksUrl: string | undefined;
    readonly jwksFile: string | undefined;
    /** True when no JWKS is configured: tokens are signed by the development issuer's key in `dataDir`. */
    readonly devIssuer: boolean;
    readonly issuer: string;
    readonly audience: string | undefined;
  };
  readonly jitProvisioning: boolean;
  /** `undefined`: every standard claim and every custom attribute. */
  readonly defaultClaims: readonly string[] | undefined;
  readonly otp: {
    readonly delivery: "log" | "webhook" | "smtp";
    readonly webhookUrl: string | undefined;
    readonly webhookSecret: string | undefined;
    readonly webhookTimeoutMs: number;
    readonly smtpUrl: string | undefined;
    readonly smtpFrom: string | undefined;
    readonly targetIntervalSeconds: number;
    readonly targetDailyLimit: number;
    readonly clientLimit: number;
    readonly ipLimit: number;
    readonly windowSeconds: number;
  };
  /** Change events (SPEC 5.4): the Standard Webhooks receiver; without one, events are delivered to the log. */
  readonly events: {
    readonly webhookUrl: string | undefined;
    /** `whsec_<base64>`. */
    readonly webhookSecret: string | undefined;
    readonly webhookTimeoutMs: number;
  };
  /** Where the gateway is reached from outside (revert links); `undefined`: the listen address. */
  readonly publicUrl: string | undefined;
  /** How long the revert link of an identifier change notice works. */
  readonly revertTtlSeconds: number;
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** `auto`: human-readable on a terminal in development, JSON lines otherwise. */
  readonly logFormat: "auto" | "json" | "pretty";
  /** Take the client address from `X-Forwarded-For` (behind a load balancer). */
  readonly trustProxy: boolean;
  /** GraphiQL on `GET /graphql`: on in development, off in production unless `GRAPHIQL=true`. */
  readonly graphiql: boolean;
  /** GraphQL introspection (`__schema`, `__type`): on in development, off in production unless `GRAPHQL_INTROSPECTION=true`. */
  readonly graphqlIntrospection: boolean;
  /** The API reference page at `/docs`: on in development, off in production unless `API_DOCS=true`. */
  readonly apiDocs: boolean;
  /** Browser origins allowed by CORS (`*`: any); `undefined`: no CORS. */
  readonly corsOrigins: readonly string[] | undefined;
  /** How long a SIGTERM waits for in-flight requests. */
  readonly shutdownTimeoutMs: number;
  /** Verified access tokens remembered until they expire (0: none). */
  readonly tokenCacheSize: number;
  /** How long applications and custom attribute definitions are kept in memory (0: not at all). */
  readonly lookupCacheTtlMs: number;
  /** How long the answer to a request with an `Idempotency-Key` is kept (SPEC 5.2). */
  readonly idempotencyTtlSeconds: number;
  /** Identifier changes need an `auth_time` at most this old (SPEC 5.3); `undefined`: no step-up. */
  readonly stepUpMaxAgeSeconds: number | undefined;
  /** Answers show only the claims of the scopes the token grants (SPEC 5.6). */
  readonly claimsByScope: boolean;
}

/** The `iss` of tokens minted by the development issuer when `AUTH_ISSUER` is not set. */
export const DEV_ISSUER = "userinfo-bff-dev";

/** A configuration that cannot run; the message says which variable to fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses the environment into a frozen {@link Config}.
 * @throws ConfigError naming every invalid variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  const devIssuer = e.AUTH_JWKS_URL === undefined && e.AUTH_JWKS_FILE === undefined;
  // Every problem at once, each naming its variable and the fix.
  const problems: string[] = [];
  if (e.AUTH_JWKS_URL !== undefined && e.AUTH_JWKS_FILE !== undefined) {
    problems.push("set AUTH_JWKS_URL or AUTH_JWKS_FILE, not both");
  }
  if (!devIssuer && e.AUTH_ISSUER === undefined) {
    problems.push("AUTH_ISSUER is required with AUTH_JWKS_URL or AUTH_JWKS_FILE");
  }
  if (devIssuer && production && !e.AUTH_DEV_ISSUER) {
    problems.push(
      "refusing to start in production with the development token issuer: set AUTH_JWKS_URL or AUTH_JWKS_FILE " +
        "and AUTH_ISSUER, or AUTH_DEV_ISSUER=true to allow it explicitly",
    );
  }
  if (e.OTP_DELIVERY === "log" && production && !e.ALLOW_LOG_DELIVERY) {
    problems.push(
      "refusing to start in production with OTP_DELIVERY=log (the default), which writes one-time codes to the log " +
        "instead of sending them: set OTP_DELIVERY=webhook (OTP_WEBHOOK_URL, OTP_WEBHOOK_SECRET) or OTP_DELIVERY=smtp " +
        "(SMTP_URL, SMTP_FROM), or ALLOW_LOG_DELIVERY=true to allow it explicitly",
    );
  }
  if (e.OTP_DELIVERY === "webhook" && (e.OTP_WEBHOOK_URL === undefined || e.OTP_WEBHOOK_SECRET === undefined)) {
    problems.push("OTP_DELIVERY=webhook needs OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET");
  } else if ((e.OTP_WEBHOOK_URL === undefined) !== (e.OTP_WEBHOOK_SECRET === undefined)) {
    problems.push("OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET go together");
  }
  if (e.OTP_DELIVERY === "smtp" && (e.SMTP_URL === undefined || e.SMTP_FROM === undefined)) {
    problems.push("OTP_DELIVERY=smtp needs SMTP_URL and SMTP_FROM");
  }
  if ((e.EVENTS_WEBHOOK_URL === undefined) !== (e.EVENTS_WEBHOOK_SECRET === undefined)) {
    problems.push("EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET go together");
  }
  if (e.EVENTS_WEBHOOK_SECRET !== undefined && webhookSigningKey(e.EVENTS_WEBHOOK_SECRET) === undefined) {
    problems.push(
      "EVENTS_WEBHOOK_SECRET must be a Standard Webhooks secret: whsec_ followed by the base64 of the key " +
        "(e.g. whsec_$(openssl rand -base64 32))",
    );
  }
  if (problems.length > 0) throw new ConfigError(problems.join("; "));
  return deepFreeze({
    production,
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    auth: {
      jwksUrl: e.AUTH_JWKS_URL,
      jwksFile: e.AUTH_JWKS_FILE === undefined ? undefined : resolve(e.AUTH_JWKS_FILE),
      devIssuer,
      issuer: e.AUTH_ISSUER ?? DEV_ISSUER,
      audience: e.AUTH_AUDIENCE,
    },
    jitProvisioning: e.JIT_PROVISIONING,
    defaultClaims: e.DEFAULT_CLAIMS,
    otp: {
      delivery: e.OTP_DELIVERY,
      webhookUrl: e.OTP_WEBHOOK_URL,
      webhookSecret: e.OTP_WEBHOOK_SECRET,
      webhookTimeoutMs: e.OTP_WEBHOOK_TIMEOUT_MS,
      smtpUrl: e.SMTP_URL,
      smtpFrom: e.SMTP_FROM,
      targetIntervalSeconds: e.OTP_TARGET_INTERVAL_SECONDS,
      targetDailyLimit: e.OTP_TARGET_DAILY_LIMIT,
      clientLimit: e.OTP_CLIENT_LIMIT,
      ipLimit: e.OTP_IP_LIMIT,
      windowSeconds: e.OTP_WINDOW_SECONDS,
    },
    events: {
      webhookUrl: e.EVENTS_WEBHOOK_URL,
      webhookSecret: e.EVENTS_WEBHOOK_SECRET,
      webhookTimeoutMs: e.EVENTS_WEBHOOK_TIMEOUT_MS,
    },
    publicUrl: e.PUBLIC_URL,
    revertTtlSeconds: e.REVERT_TTL_SECONDS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    tokenCacheSize: e.TOKEN_CACHE_SIZE,
    lookupCacheTtlMs: e.LOOKUP_CACHE_TTL_MS,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    stepUpMaxAgeSeconds: e.STEP_UP_MAX_AGE_SECONDS,
    claimsByScope: e.CLAIMS_BY_SCOPE,
    graphiql: e.GRAPHIQL === undefined ? !production : ["true", "1", "yes"].includes(e.GRAPHIQL),
    graphqlIntrospection:
      e.GRAPHQL_INTROSPECTION === undefined ? !production : ["true", "1", "yes"].includes(e.GRAPHQL_INTROSPECTION),
    apiDocs: e.API_DOCS === undefined ? !production : ["true", "1", "yes"].includes(e.API_DOCS),
  });
}

/** The environment a process runs with, and the `.env` file it was completed from, if any. */
export interface Environment {
  readonly env: Record<string, string | undefined>;
  /** The `.env` file read, when there was one. */
  readonly envFile: string | undefined;
}

/**
 * The process environment, completed by the `.env` file of the working directory when there is one: a variable set
 * in the environment wins over the file (so the file holds defaults for a checkout, never overrides for a deployment).
 * @throws ConfigError when `.env` exists but cannot be read.
 */
export function readEnvironment(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): Environment {
  const path = join(cwd, ".env");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { env: { ...env }, envFile: undefined };
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`${path} cannot be read (${code}): fix its permissions or remove it`);
  }
  return { env: { ...parseEnv(text), ...env }, envFile: path };
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === "object" && v !== null) deepFreeze(v);
  return Object.freeze(value);
}
