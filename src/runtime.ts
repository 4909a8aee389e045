import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, type App } from "./app.js";
import { fileKeys, localKeys, remoteKeys } from "./auth/bearer.js";
import { hashClientSecret } from "./auth/client-secrets.js";
import { loadDevIssuer, type DevIssuer } from "./auth/dev-issuer.js";
import type { Config } from "./config.js";
import { STANDARD_CLAIMS } from "./domain/attributes.js";
import type { Clock, Store } from "./domain/ports.js";
import type { Logger } from "./logger.js";
import { createHttpHandler } from "./http-server.js";
import { createMetrics } from "./observability/metrics.js";
import { databaseReadiness } from "./persistence/readiness.js";
import { channelRouter, logSender, smtpSender, webhookSender } from "./delivery/otp-senders.js";
import { cryptoRandom } from "./domain/otp/secrets.js";
import type { OtpSender } from "./domain/ports.js";
import { connectDatabase, type Database } from "./persistence/database.js";
import { migrate } from "./persistence/migrations.js";
import { createStore } from "./persistence/store.js";

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };

/** The demo application registered with the development issuer. */
export const DEMO_APP = { clientId: "demo", secret: "demo-secret" } as const;

/** An open database: the URL to reach it and the Prisma client on it. */
export interface OpenDatabase {
  readonly url: string;
  readonly embedded: boolean;
  readonly database: Database;
  readonly store: Store;
  close(): Promise<void>;
}

/**
 * Opens the configured database (PostgreSQL at `DATABASE_URL`, else the embedded one in `DATA_DIR`) and applies
 * pending migrations.
 */
export async function openDatabase(config: Config, log: Logger): Promise<OpenDatabase> {
  // PGlite is loaded only for the embedded database.
  const embedded =
    config.databaseUrl === undefined
      ? await (await import("./persistence/embedded.js")).openEmbeddedDatabase(config.dataDir, config.databasePoolSize)
      : undefined;
  const url = embedded?.url ?? config.databaseUrl!;
  try {
    const applied = await migrate(url);
    if (applied.length > 0) log.info({ migrations: applied }, "migrations applied");
  } catch (error) {
    await embedded?.close();
    throw error;
  }
  const connection = connectDatabase(url, config.databasePoolSize);
  return {
    url,
    embedded: embedded !== undefined,
    database: connection,
    store: createStore(connection),
    close: async () => {
      await connection.close();
      await embedded?.close();
    },
  };
}

/** A listening gateway. */
export interface RunningGateway {
  readonly url: string;
  readonly app: App;
  readonly server: Server;
  close(): Promise<void>;
}

/** Starts the gateway: database, migrations, issuer keys, the composed app, and the HTTP listener. */
export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  const database = await openDatabase(config, log);
  try {
    const devIssuer = config.auth.devIssuer ? await loadDevIssuer(config.dataDir) : undefined;
    if (devIssuer !== undefined) {
      await registerDemoApplication(database.store);
      log.warn("development token issuer active: mint tokens with `npm run cli -- token <sub>`");
    }
    const keys =
      devIssuer !== undefined
        ? localKeys(devIssuer.jwks)
        : config.auth.jwksFile !== undefined
          ? fileKeys(config.auth.jwksFile)
          : remoteKeys(config.auth.jwksUrl!);
    const delivery = otpDelivery(config, log);
    const metrics = createMetrics();
    const databaseReady = databaseReadiness(database.database);
    let draining = false;
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
            // Loaded only when enabled: the bundled GraphiQL weighs ~45 MB in memory.
            render: (await import("@graphql-yoga/render-graphiql")).renderGraphiQL,
            authorization: await demoAuthorization(config, devIssuer),
          }
        : false,
      metrics,
      readiness: async () => (draining ? { ready: false, reason: "shutting down" } : databaseReady()),
    });
    const purge = () =>
      app.otp.purgeExpired().catch((error: unknown) => log.warn({ err: error }, "purging expired OTP data failed"));
    void purge();
    const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS).unref();
    const server = createServer(createHttpHandler(app, metrics, log));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    log.info({ url, database: database.embedded ? "embedded" : "postgresql" }, "gateway listening");
    return {
      url,
      app,
      server,
      close: async () => {
        draining = true;
        clearInterval(purgeTimer);
        await stopListening(server, config.shutdownTimeoutMs);
        delivery.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Stops accepting connections and lets in-flight requests finish; idle keep-alive connections are closed at once,
 * and whatever still runs after `timeoutMs` is cut.
 */
async function stopListening(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs).unref();
  await closed;
  clearTimeout(timer);
}

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

/** The configured OTP delivery: `log`, `webhook` (both channels), or `smtp` for email with the webhook for SMS. */
export function otpDelivery(config: Config, log: Logger): { sender: OtpSender; close(): void } {
  const { delivery, webhookUrl, webhookSecret, webhookTimeoutMs, smtpUrl, smtpFrom } = config.otp;
  const webhook =
    webhookUrl !== undefined && webhookSecret !== undefined
      ? webhookSender({ url: webhookUrl, secret: webhookSecret, timeoutMs: webhookTimeoutMs })
      : undefined;
  switch (delivery) {
    case "log":
      return { sender: logSender(log), close: () => undefined };
    case "webhook":
      return { sender: webhook!, close: () => undefined };
    case "smtp": {
      const smtp = smtpSender({ url: smtpUrl!, from: smtpFrom!, timeoutMs: webhookTimeoutMs });
      if (webhook === undefined) log.warn("OTP_DELIVERY=smtp without OTP_WEBHOOK_URL: SMS codes cannot be sent");
      return { sender: channelRouter({ email: smtp, ...(webhook && { sms: webhook }) }), close: () => smtp.close() };
    }
  }
}

async function registerDemoApplication(store: Store): Promise<void> {
  if ((await store.applications.find(DEMO_APP.clientId)) !== null) return;
  await store.applications.save({
    clientId: DEMO_APP.clientId,
    secretHash: await hashClientSecret(DEMO_APP.secret),
    claims: STANDARD_CLAIMS,
  });
}
