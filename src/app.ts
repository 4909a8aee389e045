import { useGraphQlJit } from "@envelop/graphql-jit";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { ValidationRule } from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { createBearerVerifier } from "./auth/bearer.js";
import type { Config } from "./config.js";
import type { Clock, Store } from "./domain/ports.js";
import { createUserInfoService, type UserInfoService } from "./domain/service.js";
import type { GraphQLContext } from "./graphql/context.js";
import { GRAPHQL_LIMITS, introspectionRules } from "./graphql/limits.js";
import { schema } from "./graphql/schema.js";
import { graphQLOptions, type GraphiQLSetup } from "./graphql/server.js";
import type { Logger } from "./logger.js";
import { countedSender, type Metrics } from "./observability/metrics.js";
import { withLookupCache } from "./persistence/lookup-cache.js";
import type { Readiness } from "./persistence/readiness.js";
import type { OtpSender } from "./otp/delivery.js";
import { createOtpIssuer, type OtpIssuer } from "./otp/issuer.js";
import type { OtpRandom } from "./otp/secrets.js";
import { createOtpService, type OtpService } from "./otp/service.js";
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
  /** Issues a challenge without delivery or limits (for tests and tools). */
  readonly issueOtp: OtpIssuer;
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
  const sender = metrics === undefined ? deps.sender : countedSender(deps.sender, metrics);
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
  const issueOtp = createOtpIssuer({ otps: store.otps, clock, random });
  const otp = createOtpService({ store, clock, random, sender, limits: config.otp, log });
  const clientAddress = clientAddressResolver(config.trustProxy);
  const routes = createRestRoutes({
    userInfo,
    otp,
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
    cors: corsOptions(config.corsOrigins),
    plugins: [
      // "Did you mean ...?" suggestions reveal the schema: offered only where introspection shows it anyway.
      EnvelopArmorPlugin({ ...GRAPHQL_LIMITS, blockFieldSuggestion: { enabled: !config.graphqlIntrospection } }),
      validationRules(introspectionRules(schema, config.graphqlIntrospection)),
      useGraphQlJit(),
      restPlugin(routes),
    ],
  });
  return { yoga, userInfo, otp, issueOtp };
}

/** Adds validation rules to every GraphQL document's validation. */
function validationRules(rules: readonly ValidationRule[]): Plugin {
  return {
    onValidate: ({ addValidationRule }) => {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}
