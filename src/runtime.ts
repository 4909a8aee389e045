import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, type App } from "./app.js";
import { fileKeys, localKeys, remoteKeys } from "./auth/bearer.js";
import { checkJwksFile, warmUpRemoteJwks, type RemoteJwksWarmUp } from "./auth/jwks-startup.js";
import { hashClientSecret } from "./auth/client-secrets.js";
import { loadDevIssuer, type DevIssuer } from "./auth/dev-issuer.js";
import type { Config } from "./config.js";
import { STANDARD_CLAIMS } from "./domain/attributes.js";
import type { Clock, Store } from "./domain/ports.js";
import type { Logger } from "./logger.js";
import { createHttpHandler } from "./http-server.js";
import { createMetrics } from "./observability/metrics.js";
import { databaseReadiness } from "./persistence/readiness.js";
import { channelRouter, logSender, smtpSender, webhookSender, type OtpSender } from "./otp/delivery.js";
import { cryptoRandom } from "./otp/secrets.js";
import { migrate } from "./persistence/migrations.js";
import { createPrismaClient, poolOf, type PrismaClient } from "./persistence/prisma.js";
import { createPrismaStore } from "./persistence/store.js";
import type { ShutdownProgress } from "./shutdown.js";

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };

/** The demo application registered with the development issuer. */
export const DEMO_APP = { clientId: "demo", secret: "demo-secret" } as const;

/** An open database: the URL to reach it and the Prisma client on it. */
export interface OpenDatabase {
  readonly url: string;
  readonly embedded: boolean;
  readonly prisma: PrismaClient;
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
  const prisma = createPrismaClient(url, config.databasePoolSize);
  return {
    url,
    embedded: embedded !== undefined,
    prisma,
    store: createPrismaStore(prisma),
    close: async () => {
      await prisma.$disconnect();
      // Prisma ends the pool only if its engine ever connected, and the request path may have used the pool alone.
      // Ended here, before an embedded server stops, and waiting for clients still running a statement.
      const pool = poolOf(prisma);
      if (pool !== undefined && !pool.ending) await pool.end();
      await embedded?.close();
    },
  };
}

/** A listening gateway. */
export interface RunningGateway {
  readonly url: string;
  readonly app: App;
  readonly server: Server;
  /**
   * Withdraws readiness, stops accepting connections, lets in-flight requests finish (cut after
   * `SHUTDOWN_TIMEOUT_MS`), then closes delivery and the database; `progress` hears each step as it begins.
   */
  close(progress?: ShutdownProgress): Promise<void>;
}

/**
 * Starts the gateway: configuration checks that need the file system, database, migrations, issuer keys, the
 * composed app, and the HTTP listener.
 * @throws ConfigError when `AUTH_JWKS_FILE` cannot be used.
 */
export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  if (config.auth.jwksFile !== undefined) await checkJwksFile(config.auth.jwksFile);
  const database = await openDatabase(config, log);
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
    let keys;
    if (devIssuer !== undefined) keys = localKeys(devIssuer.jwks);
    else if (config.auth.jwksFile !== undefined) keys = fileKeys(config.auth.jwksFile);
    else {
      keys = remoteKeys(config.auth.jwksUrl!);
      remoteJwks = warmUpRemoteJwks(keys, config.auth.jwksUrl!, log);
    }
    const delivery = otpDelivery(config, log);
    const metrics = createMetrics();
    const databaseReady = databaseReadiness(database.prisma);
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
      readiness: async () =>
        draining ? { ready: false, reason: "shutting down" } : (remoteJwks?.readiness() ?? databaseReady()),
    });
    const purge = () =>
      app.otp.purgeExpired().catch((error: unknown) => log.warn({ err: error }, "purging expired OTP data failed"));
    // The first purge waits a minute: its Prisma statements would load Prisma's query compiler (~300 ms of CPU) while
    // the gateway is becoming ready.
    const firstPurge = setTimeout(purge, FIRST_PURGE_DELAY_MS).unref();
    const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS).unref();
    const server = createServer(createHttpHandler(app, metrics, log));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    log.info({ url, database: database.embedded ? "embedded" : "postgresql", pid: process.pid }, "gateway listening");
    return {
      url,
      app,
      server,
      close: async (progress = () => undefined) => {
        draining = true;
        clearTimeout(firstPurge);
        clearInterval(purgeTimer);
        remoteJwks?.close();
        progress("in-flight requests");
        if (await stopListening(server, config.shutdownTimeoutMs)) {
          log.warn(
            { timeoutMs: config.shutdownTimeoutMs },
            "requests still running after SHUTDOWN_TIMEOUT_MS: their connections were closed",
          );
        }
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

const PURGE_INTERVAL_MS = 10 * 60_000;
const FIRST_PURGE_DELAY_MS = 60_000;

/**
 * Stops accepting connections and lets in-flight requests finish; idle keep-alive connections are closed at once,
 * and whatever still runs after `timeoutMs` is cut.
 * @returns whether connections had to be cut.
 */
async function stopListening(server: Server, timeoutMs: number): Promise<boolean> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let cut = false;
  const timer = setTimeout(() => {
    cut = true;
    server.closeAllConnections();
  }, timeoutMs).unref();
  await closed;
  clearTimeout(timer);
  return cut;
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
