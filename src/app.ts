import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { ValidationRule } from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { createBearerVerifier, fileKeys, localKeys, remoteKeys } from "./auth/bearer.js";
import { createClientAuthenticator } from "./auth/client-authentication.js";
import { hashClientSecret } from "./auth/client-secrets.js";
import { type DevIssuer, loadDevIssuer } from "./auth/dev-issuer.js";
import { checkJwksFile, type RemoteJwksWarmUp, warmUpRemoteJwks } from "./auth/jwks-startup.js";
import type { Config } from "./config.js";
import { createOutboxDispatcher, type OutboxDispatcher } from "./delivery/event-dispatcher.js";
import { eventsWebhookSender, logEventSender } from "./delivery/events-webhook.js";
import { loggingFailures, logSender, otpDelivery } from "./delivery/otp-senders.js";
import { STANDARD_CLAIMS } from "./domain/attributes.js";
import type { EventSender, NoticeSender } from "./domain/events.js";
import { createIdempotency, type Idempotency } from "./domain/idempotency.js";
import { cryptoRandom, type OtpRandom } from "./domain/otp/secrets.js";
import { createOtpService, type OtpService } from "./domain/otp/send-otp.js";
import type { Clock, OtpSender, Store } from "./domain/ports.js";
import { createRevertService, type RevertService } from "./domain/revert.js";
import { createUserInfoService, type UserInfoService } from "./domain/user-info.js";
import type { GraphQLContext } from "./graphql/context.js";
import { directGraphQL, type HeaderReader } from "./graphql/direct.js";
import { documentCaches, GRAPHQL_LIMITS, introspectionRules } from "./graphql/limits.js";
import { schema } from "./graphql/schema.js";
import { type GraphiQLSetup, graphQLOptions, graphqlJsExecution, utf8Bodies } from "./graphql/server.js";
import type { Logger } from "./logger.js";
import { countedSender, createMetrics, type Metrics, observeOutbox, watchOutbox } from "./observability/metrics.js";
import type { Readiness } from "./observability/readiness.js";
import { withLookupCache } from "./persistence/lookup-cache.js";
import { type OpenDatabase, openDatabase, openDatabaseForOperator } from "./persistence/open-database.js";
import { databaseReadiness } from "./persistence/readiness.js";
import { clientAddressResolver } from "./rest/client-address.js";
import { createRestRoutes, restPlugin } from "./rest/routes.js";
import type { ShutdownProgress } from "./shutdown.js";
import { TRPC_PATHS, trpcPlugin } from "./trpc/server.js";

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };

/** The demo application registered with the development issuer. */
export const DEMO_APP = { clientId: "demo", secret: "demo-secret" } as const;

/** The parts the gateway is composed of; tests pass their own clock and randomness. */
export interface AppDeps {
  readonly config: Config;
  readonly store: Store;
  readonly clock: Clock;
  readonly random: OtpRandom;
  readonly sender: OtpSender;
  readonly log: Logger;
  /** The keys access tokens are verified with. */
  readonly keys: JWTVerifyGetKey;
  /** The development issuer's public keys, when it is the issuer. */
  readonly devJwks: JSONWebKeySet | undefined;
  /** GraphiQL on `GET /graphql` (development): its renderer, and an `Authorization` header to fill in. */
  readonly graphiql?: false | GraphiQLSetup;
  /** Readiness for `/readyz`; absent: always ready. */
  readonly readiness?: () => Promise<Readiness>;
  /** Metrics: served at `/metrics`, and OTP deliveries counted. */
  readonly metrics?: Metrics;
  /** Where identifier change notices go; default: the log. */
  readonly notices?: NoticeSender;
  /** Where change events go; default: the configured events webhook, else the log. */
  readonly events?: EventSender;
  /** The jitter of outbox retries: a number in [0, 1); default `Math.random`. */
  readonly jitter?: () => number;
  /** The gateway's public address for revert links; default `PUBLIC_URL`, else the configured listen address. */
  readonly publicUrl?: () => string;
}

/** The composed gateway: a fetch handler serving REST and GraphQL, and the domain services behind it. */
export interface App {
  readonly yoga: YogaServerInstance<{ request: Request }, GraphQLContext>;
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  readonly revert: RevertService;
  /** Delivers change events and notices; tests drive its rounds (`runOnce`), a gateway starts its loop. */
  readonly outbox: OutboxDispatcher;
  readonly idempotency: Idempotency;
  /** Every path the gateway serves (REST routes, `/graphql` and the tRPC procedures). */
  readonly routes: ReadonlySet<string>;
  /**
   * The handler that serves a request past yoga's request pipeline, if any: a REST route by exact path, and a `POST
   * /graphql` whose headers and body are in the shape `src/graphql/direct.ts` serves; never `OPTIONS`, and none at all
   * when CORS is on (yoga's CORS plugin answers preflights and adds the headers). The HTTP handler
   * (`src/http-server.ts`) serves these straight from node:http, and everything else through yoga's node adapter;
   * `yoga.fetch` serves the same REST routes through {@link restPlugin}.
   */
  directRoute(
    method: string,
    path: string,
    headers: HeaderReader,
    body: Uint8Array | undefined,
  ): RestHandler | undefined;
  /** Serves a fetch `Request` as the HTTP handler does: its direct route, else yoga. */
  fetch(request: Request, serverContext?: Record<string, unknown>): Promise<Response>;
}

/** A REST route: a fetch `Request` (and the server context, `{ req, res }` under node:http) to a `Response`. */
export type RestHandler = ReturnType<typeof createRestRoutes> extends Map<string, infer H> ? H : never;

/** CORS for the configured browser origins; none configured: no CORS headers at all. */
function corsOptions(origins: readonly string[] | undefined) {
  if (origins === undefined) return false;
  return {
    origin: origins.includes("*") ? "*" : [...origins],
    methods: ["GET", "POST", "PATCH", "OPTIONS"],
    allowedHeaders: ["authorization", "content-type", "x-request-id", "if-match", "if-none-match", "idempotency-key"],
    exposedHeaders: ["www-authenticate", "retry-after", "x-request-id", "etag", "idempotent-replayed"],
    maxAge: 600,
  };
}

/** The composition root: wires the domain, its adapters and the three faces. */
export function createApp(deps: AppDeps): App {
  const { config, clock, random, log, keys, devJwks, graphiql = false, readiness, metrics } = deps;
  const store = withLookupCache(deps.store, clock, config.lookupCacheTtlMs);
  const logged = loggingFailures(deps.sender, log);
  const sender = metrics === undefined ? logged : countedSender(logged, metrics);
  const verifyBearer = createBearerVerifier({
    keys,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    clock,
    cacheSize: config.tokenCacheSize,
  });
  const outbox = createOutboxDispatcher({
    outbox: store.outbox,
    events: deps.events ?? eventSenderOf(config, log),
    notices: deps.notices ?? logSender(log),
    publicUrl: deps.publicUrl ?? (() => config.publicUrl ?? listenUrl(config)),
    clock,
    random: deps.jitter ?? Math.random,
    log,
    ...(metrics && { observe: observeOutbox(metrics) }),
    // Longer than the slowest delivery (a webhook or SMTP timeout) of a round, which sends its entries at once.
    leaseMs: Math.max(config.events.webhookTimeoutMs, config.otp.webhookTimeoutMs) + 10_000,
  });
  if (metrics !== undefined) watchOutbox(metrics, store.outbox, clock);
  const changed = () => outbox.wake();
  const userInfo = createUserInfoService({
    store,
    clock,
    jitProvisioning: config.jitProvisioning,
    defaultClaims: config.defaultClaims,
    random,
    revertTtlSeconds: config.revertTtlSeconds,
    changed,
    claimsByScope: config.claimsByScope,
    stepUpMaxAgeSeconds: config.stepUpMaxAgeSeconds,
  });
  const idempotency = createIdempotency({
    keys: store.idempotencyKeys,
    clock,
    ttlSeconds: config.idempotencyTtlSeconds,
    onKeepFailure: (error) => log.warn({ err: error }, "an idempotent answer could not be kept"),
  });
  const revert = createRevertService({ store, clock, changed });
  const otp = createOtpService({ store, clock, random, sender, limits: config.otp });
  const clientAddress = clientAddressResolver(config.trustProxy);
  const routes = createRestRoutes({
    userInfo,
    otp,
    revert,
    idempotency,
    authenticateClient: createClientAuthenticator({ applications: store.applications, clock }),
    clientAddress,
    verifyBearer,
    devJwks,
    log,
    apiDocs: config.apiDocs,
    ...(readiness && { readiness }),
    ...(metrics && { metrics: metrics.registry }),
  });
  // What the GraphQL and tRPC faces share.
  const faceDeps = { userInfo, otp, idempotency, verifyBearer, clientAddress, log };
  const graphql = graphQLOptions({ ...faceDeps, graphiql, suggestions: config.graphqlIntrospection });
  const yoga = createYoga({
    ...graphql,
    ...(graphiql !== false && { renderGraphiQL: graphiql.render }),
    landingPage: false,
    logging: false,
    // The HTTP handler (src/http-server.ts) reads bodies up to 64 KiB before yoga sees them; yoga's own limit would
    // pipe every body through a counting stream again.
    maxRequestBodySize: false,
    parserAndValidationCache: documentCaches(),
    cors: corsOptions(config.corsOrigins),
    plugins: [
      // "Did you mean ...?" suggestions reveal the schema: offered only where introspection shows it anyway.
      EnvelopArmorPlugin({ ...GRAPHQL_LIMITS, blockFieldSuggestion: { enabled: !config.graphqlIntrospection } }),
      validationRules(introspectionRules(schema, config.graphqlIntrospection)),
      utf8Bodies(),
      graphqlJsExecution(),
      restPlugin(routes),
      trpcPlugin(faceDeps),
    ],
  });
  const direct = config.corsOrigins === undefined;
  // The same masker and context yoga is given.
  const graphqlDirectly = directGraphQL(yoga, graphql.maskedErrors.maskError, graphql.context);
  const directRoute = (method: string, path: string, headers: HeaderReader, body: Uint8Array | undefined) => {
    if (!direct || method === "OPTIONS") return undefined;
    if (path !== yoga.graphqlEndpoint) return routes.get(path);
    return method === "POST" && body !== undefined ? graphqlDirectly(headers, body) : undefined;
  };
  return {
    yoga,
    userInfo,
    otp,
    idempotency,
    revert,
    outbox,
    routes: new Set([...routes.keys(), yoga.graphqlEndpoint, ...TRPC_PATHS]),
    directRoute,
    fetch: async (request, serverContext = {}) => {
      const path = new URL(request.url).pathname;
      // The HTTP handler has read the body by now; a clone keeps this one for the route.
      const body =
        request.method === "POST" && path === yoga.graphqlEndpoint
          ? new Uint8Array(await request.clone().arrayBuffer())
          : undefined;
      const route = directRoute(request.method, path, request.headers, body);
      return route === undefined ? yoga.fetch(request, serverContext) : route(request, serverContext);
    },
  };
}

/** The configured listen address as a URL (the default of `PUBLIC_URL`). */
export const listenUrl = (config: Pick<Config, "host" | "port">): string =>
  `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;

/** Change events go to the events webhook when one is configured, else to the log. */
function eventSenderOf(config: Config, log: Logger): EventSender {
  const { webhookUrl, webhookSecret, webhookTimeoutMs } = config.events;
  return webhookUrl !== undefined && webhookSecret !== undefined
    ? eventsWebhookSender({ url: webhookUrl, secret: webhookSecret, timeoutMs: webhookTimeoutMs })
    : logEventSender(log);
}

/** Adds validation rules to every GraphQL document's validation. */
function validationRules(rules: readonly ValidationRule[]): Plugin {
  return {
    onValidate: ({ addValidationRule }) => {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}

/** A gateway ready to serve: the composed app on an open database, with its background work running. */
export interface Gateway {
  readonly app: App;
  readonly metrics: Metrics;
  readonly embedded: boolean;
  /** Withdraws readiness (`/readyz` answers 503 from now on). */
  drain(): void;
  /** Tells where the server listens: the revert links' address when `PUBLIC_URL` is not set. */
  listening(url: string): void;
  /** Stops the background work and closes the delivery channels and the database; `progress` hears each step. */
  close(progress?: ShutdownProgress): Promise<void>;
}

/**
 * The composition root of a running gateway, from its configuration: the database (embedded or PostgreSQL, migrated),
 * the issuer's keys, the demo application with the development issuer, the OTP delivery, metrics, readiness, and the
 * purge of expired OTP data. Listening is `src/main.ts`'s.
 */
export async function openGateway(config: Config, log: Logger): Promise<Gateway> {
  if (config.auth.jwksFile !== undefined) await checkJwksFile(config.auth.jwksFile);
  const database = await openDatabase(
    { url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize },
    log,
  );
  let remoteJwks: RemoteJwksWarmUp | undefined;
  try {
    if (config.production && database.embedded) {
      log.warn(
        "NODE_ENV=production on the embedded database in DATA_DIR: it serves this one process only; " +
          "set DATABASE_URL to a PostgreSQL server for production",
      );
    }
    const devIssuer = config.auth.devIssuer ? await loadDevIssuer(config.dataDir) : undefined;
    if (devIssuer !== undefined) {
      await registerDemoApplication(database.store);
      log.warn("development token issuer active: mint tokens with `npm run cli -- token <sub>`");
    }
    let keys: JWTVerifyGetKey;
    if (devIssuer !== undefined) keys = localKeys(devIssuer.jwks);
    else if (config.auth.jwksFile !== undefined) keys = fileKeys(config.auth.jwksFile);
    else {
      const remote = remoteKeys(config.auth.jwksUrl!);
      remoteJwks = warmUpRemoteJwks(remote, config.auth.jwksUrl!, log);
      keys = remote;
    }
    const delivery = otpDelivery(config.otp, log);
    const metrics = createMetrics();
    const databaseReady = databaseReadiness(database.database);
    let draining = false;
    let listeningAt: string | undefined;
    const app = createApp({
      config,
      store: database.store,
      clock: systemClock,
      random: cryptoRandom,
      sender: delivery.sender,
      log,
      keys,
      devJwks: devIssuer?.jwks,
      graphiql: config.graphiql
        ? {
            // Loaded when the page is first asked for: the bundled GraphiQL weighs ~45 MB in memory.
            render: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
            authorization: await demoAuthorization(config, devIssuer),
          }
        : false,
      metrics,
      notices: delivery.notices,
      publicUrl: () => config.publicUrl ?? listeningAt ?? listenUrl(config),
      readiness: async () =>
        draining ? { ready: false, reason: "shutting down" } : (remoteJwks?.readiness() ?? databaseReady()),
    });
    const purge = () => {
      app.otp.purgeExpired().catch((error: unknown) => log.warn({ err: error }, "purging expired OTP data failed"));
      app.idempotency
        .purgeExpired()
        .catch((error: unknown) => log.warn({ err: error }, "purging expired idempotency keys failed"));
      database.store.outbox
        .purge(new Date(systemClock.now().getTime() - OUTBOX_RETENTION_MS))
        .catch((error: unknown) => log.warn({ err: error }, "purging delivered events failed"));
    };
    // Every process delivers the outbox; changes written before this start (or by a process that died) go out now.
    app.outbox.start();
    // The first purge waits a minute: nothing needs it while the gateway is becoming ready.
    const firstPurge = setTimeout(purge, FIRST_PURGE_DELAY_MS).unref();
    const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS).unref();
    return {
      app,
      metrics,
      embedded: database.embedded,
      drain: () => {
        draining = true;
      },
      listening: (url) => {
        listeningAt = url;
      },
      close: async (progress = () => undefined) => {
        draining = true;
        clearTimeout(firstPurge);
        clearInterval(purgeTimer);
        remoteJwks?.close();
        progress("the outbox dispatcher's round to end");
        await app.outbox.stop();
        progress("OTP delivery to close");
        delivery.close();
        progress(database.embedded ? "the embedded database to stop" : "the database pool to close");
        await database.close();
      },
    };
  } catch (error) {
    remoteJwks?.close();
    await database.close();
    throw error;
  }
}

/** The composition root of an operator command: the migrated database and its store, no server. */
export function openOperatorDatabase(config: Config, log: Logger): Promise<OpenDatabase> {
  return openDatabaseForOperator({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 }, log);
}

const PURGE_INTERVAL_MS = 10 * 60_000;
/** Delivered events and notices are kept a week (for `events list`), then deleted with expired revert links. */
const OUTBOX_RETENTION_MS = 7 * 24 * 3600_000;
const FIRST_PURGE_DELAY_MS = 60_000;

/** With the development issuer, GraphiQL opens with a day-long token of the user `demo-user` filled in. */
async function demoAuthorization(config: Config, devIssuer: DevIssuer | undefined): Promise<string | undefined> {
  if (devIssuer === undefined) return undefined;
  const token = await devIssuer.mint({
    sub: "demo-user",
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    clientId: DEMO_APP.clientId,
    ttlSeconds: 86_400,
  });
  return `Bearer ${token}`;
}

async function registerDemoApplication(store: Store): Promise<void> {
  if ((await store.applications.find(DEMO_APP.clientId)) !== null) return;
  await store.applications.save({
    clientId: DEMO_APP.clientId,
    secretHash: await hashClientSecret(DEMO_APP.secret),
    claims: STANDARD_CLAIMS,
  });
}
