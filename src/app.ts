import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { ValidationRule } from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { createBearerVerifier } from "./auth/bearer.js";
import type { Config } from "./config.js";
import { createClientAuthenticator } from "./auth/client-authentication.js";
import { loggingFailures } from "./delivery/otp-senders.js";
import { createOtpService, type OtpService } from "./domain/otp/send-otp.js";
import type { OtpRandom } from "./domain/otp/secrets.js";
import type { Clock, OtpSender, Store } from "./domain/ports.js";
import { createUserInfoService, type UserInfoService } from "./domain/user-info.js";
import type { GraphQLContext } from "./graphql/context.js";
import { documentCaches, GRAPHQL_LIMITS, introspectionRules } from "./graphql/limits.js";
import { schema } from "./graphql/schema.js";
import { graphQLOptions, type GraphiQLSetup } from "./graphql/server.js";
import type { Logger } from "./logger.js";
import { countedSender, type Metrics } from "./observability/metrics.js";
import { withLookupCache } from "./persistence/lookup-cache.js";
import type { Readiness } from "./observability/readiness.js";
import { clientAddressResolver } from "./rest/client-address.js";
import { createRestRoutes, restPlugin } from "./rest/routes.js";

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
}

/** The composed gateway: a fetch handler serving REST and GraphQL, and the domain services behind it. */
export interface App {
  readonly yoga: YogaServerInstance<{ request: Request }, GraphQLContext>;
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  /** Every path the gateway serves (REST routes and `/graphql`). */
  readonly routes: ReadonlySet<string>;
}

/** CORS for the configured browser origins; none configured: no CORS headers at all. */
function corsOptions(origins: readonly string[] | undefined) {
  if (origins === undefined) return false;
  return {
    origin: origins.includes("*") ? "*" : [...origins],
    methods: ["GET", "POST", "PATCH", "OPTIONS"],
    allowedHeaders: ["authorization", "content-type", "x-request-id"],
    exposedHeaders: ["www-authenticate", "retry-after", "x-request-id"],
    maxAge: 600,
  };
}

/** The composition root: wires the domain, its adapters and the two faces. */
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
  const userInfo = createUserInfoService({
    store,
    clock,
    jitProvisioning: config.jitProvisioning,
    defaultClaims: config.defaultClaims,
  });
  const otp = createOtpService({ store, clock, random, sender, limits: config.otp });
  const clientAddress = clientAddressResolver(config.trustProxy);
  const routes = createRestRoutes({
    userInfo,
    otp,
    authenticateClient: createClientAuthenticator({ applications: store.applications, clock }),
    clientAddress,
    verifyBearer,
    devJwks,
    log,
    ...(readiness && { readiness }),
    ...(metrics && { metrics: metrics.registry }),
  });
  const yoga = createYoga({
    ...graphQLOptions({ userInfo, otp, verifyBearer, clientAddress, log, graphiql }),
    ...(graphiql !== false && { renderGraphiQL: graphiql.render }),
    landingPage: false,
    logging: false,
    // The HTTP handler (src/http-server.ts) reads bodies up to 64 KiB before yoga sees them; yoga's own limit would
    // pipe every body through a counting stream again.
    maxRequestBodySize: false,
    parserAndValidationCache: documentCaches(),
    cors: corsOptions(config.corsOrigins),
    plugins: [
      EnvelopArmorPlugin(GRAPHQL_LIMITS),
      validationRules(introspectionRules(schema, config.graphqlIntrospection)),
      restPlugin(routes),
    ],
  });
  return { yoga, userInfo, otp, routes: new Set([...routes.keys(), yoga.graphqlEndpoint]) };
}

/** Adds validation rules to every GraphQL document's validation. */
function validationRules(rules: readonly ValidationRule[]): Plugin {
  return {
    onValidate: ({ addValidationRule }) => {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}
