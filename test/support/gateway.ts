import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { type App, createApp } from "../../src/app.js";
import { localKeys } from "../../src/auth/bearer.js";
import { type DevIssuer, type DevTokenClaims, loadDevIssuer } from "../../src/auth/dev-issuer.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { Channel } from "../../src/domain/attributes.js";
import type { EventSender, NoticeMessage, NoticeSender } from "../../src/domain/events.js";
import { createOtpIssuer, type OtpIssuer } from "../../src/domain/otp/challenges.js";
import type { OtpRandom } from "../../src/domain/otp/secrets.js";
import type { Clock, OtpMessage, OtpSender, Store } from "../../src/domain/ports.js";
import type { GraphiQLSetup } from "../../src/graphql/server.js";
import { createLogger, type Logger } from "../../src/logger.js";
import type { Metrics } from "../../src/observability/metrics.js";
import { connectDatabase, type Database, PrismaClient } from "../../src/persistence/database.js";
import { migrate } from "../../src/persistence/migrations.js";
import { createStore } from "../../src/persistence/store.js";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { expectDocumentedResponse } from "./openapi.js";

/** A clock the test moves by hand. */
export interface TestClock extends Clock {
  advance(seconds: number): void;
  set(date: Date): void;
}

export function testClock(start = new Date("2026-11-28T08:00:00Z")): TestClock {
  let current = start;
  return {
    now: () => current,
    advance: (seconds) => {
      current = new Date(current.getTime() + seconds * 1000);
    },
    set: (date) => {
      current = date;
    },
  };
}

/** Randomness whose next codes a test can script; tokens stay random. */
export interface TestRandom extends OtpRandom {
  nextCodes: string[];
}

export function testRandom(): TestRandom {
  let counter = 0;
  const random: TestRandom = {
    nextCodes: [],
    token: () => `test-token-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`,
    code: () => random.nextCodes.shift() ?? "123456",
  };
  return random;
}

/** A composed gateway on a fresh database, driven in-process through `app.fetch` (the HTTP handler's dispatch). */
export interface TestGateway {
  readonly app: App;
  readonly config: Config;
  readonly database: TestDatabase;
  readonly prisma: PrismaClient;
  readonly store: Store;
  readonly clock: TestClock;
  readonly random: TestRandom;
  readonly issuer: DevIssuer;
  /** Codes delivered by the default in-memory sender. */
  readonly delivered: OtpMessage[];
  /** Identifier change notices delivered by the default in-memory notice sender. */
  readonly notices: NoticeMessage[];
  /** Sends a request to the gateway; a REST answer is checked against the OpenAPI description first. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Mints a development token (issuer, clock and default client `web` filled in). */
  token(sub: string, claims?: Partial<DevTokenClaims>): Promise<string>;
  /** The gateway's connection (pool and transactions). */
  readonly db: Database;
  /** Issues a challenge through the domain's issuing function, without delivery or limits. */
  readonly issueOtp: OtpIssuer;
  /** Issues an `update_userinfo` challenge through the domain's issuing function; returns its token and code. */
  otp(
    channel: Channel,
    target: string,
    by: { sub: string; clientId?: string | null },
  ): Promise<{ token: string; code: string }>;
  close(): Promise<void>;
}

/** Options of {@link createTestGateway}. */
export interface TestGatewayOptions {
  /** Environment variables, as the gateway would read them. */
  readonly env?: Record<string, string>;
  /** Share a database with another gateway instead of creating one. */
  readonly database?: TestDatabase;
  /** How codes are delivered; default: kept in memory. */
  readonly sender?: OtpSender;
  /** Share a clock with another gateway (gateways sharing a database must agree on the time). */
  readonly clock?: TestClock;
  /** GraphiQL, as `createApp` takes it (default off). */
  readonly graphiql?: false | GraphiQLSetup;
  /** Wraps the store, to make a dependency fail. */
  readonly wrapStore?: (store: Store) => Store;
  /** The gateway's logger; default: silent (or at `TEST_LOG_LEVEL`). */
  readonly log?: Logger;
  /** How identifier change notices are delivered; default: kept in memory. */
  readonly noticeSender?: NoticeSender;
  /** How change events are delivered; default: as the configuration says (events webhook, else the log). */
  readonly eventSender?: EventSender;
  /** The jitter of outbox retries (default 0.5). */
  readonly jitter?: () => number;
  /** Metrics, as `createApp` takes them (default none). */
  readonly metrics?: Metrics;
}

/** A sender that keeps every message, for tests that do not exercise a real channel. */
export function recordingSender(): OtpSender & { messages: OtpMessage[] } {
  const messages: OtpMessage[] = [];
  return {
    messages,
    async send(message) {
      messages.push(message);
    },
  };
}

/**
 * A `wrapStore` under which reading the custom attribute definitions fails with `error`: every profile read and
 * update then fails with it, for the faces' answers to an unexpected error or an unavailable database.
 */
export const failingDefinitions =
  (error: Error) =>
  (store: Store): Store => ({
    ...store,
    customAttributes: { ...store.customAttributes, list: async () => Promise.reject(error) },
  });

export async function createTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const database = options.database ?? (await createTestDatabase());
  await migrate(database.url);
  const dataDir = mkdtempSync(join(tmpdir(), "userinfo-key-"));
  // Tests change applications and attribute definitions between requests, through other store objects too.
  const config = loadConfig({ DATA_DIR: dataDir, LOOKUP_CACHE_TTL_MS: "0", ...options.env });
  const connection = connectDatabase(database.url, 5);
  const prisma = inspectionClient(database.url);
  const store = (options.wrapStore ?? ((s: Store) => s))(createStore(connection));
  const clock = options.clock ?? testClock();
  const random = testRandom();
  const issuer = await loadDevIssuer(dataDir);
  const recording = recordingSender();
  const notices: NoticeMessage[] = [];
  const issueOtp = createOtpIssuer({ otps: store.otps, clock, random });
  const app = createApp({
    config,
    store,
    clock,
    random,
    sender: options.sender ?? recording,
    log: options.log ?? createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    keys: localKeys(issuer.jwks),
    devJwks: issuer.jwks,
    graphiql: options.graphiql ?? false,
    notices: options.noticeSender ?? {
      async sendNotice(notice) {
        notices.push(notice);
      },
    },
    ...(options.eventSender && { events: options.eventSender }),
    jitter: options.jitter ?? (() => 0.5),
    ...(options.metrics && { metrics: options.metrics }),
  });
  return {
    app,
    config,
    database,
    prisma,
    store,
    clock,
    random,
    issuer,
    delivered: recording.messages,
    notices,
    async fetch(path, init) {
      const request = new Request(`http://localhost${path}`, init);
      const response = await app.fetch(request);
      await expectDocumentedResponse(request.method, request.url, response);
      return response;
    },
    token: (sub, claims = {}) =>
      issuer.mint({ sub, issuer: config.auth.issuer, clientId: "web", now: clock.now(), ...claims }),
    db: connection,
    issueOtp,
    async otp(channel, target, by) {
      const issued = await issueOtp({
        channel,
        target,
        usage: "update_userinfo",
        clientId: by.clientId === undefined ? "web" : by.clientId,
        userSub: by.sub,
      });
      return { token: issued.otpToken, code: issued.code };
    },
    async close() {
      await prisma.$disconnect();
      await connection.close();
      if (options.database === undefined) await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A Prisma client for tests to look into the database with (the gateway itself uses raw statements). */
export function inspectionClient(url: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 2 }) });
}

/** A JSON request with a bearer token. */
export function jsonRequest(method: string, token: string | undefined, body?: unknown): RequestInit {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
}
