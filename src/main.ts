import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { openGateway } from "./app.js";
import { type Config, ConfigError, loadConfig, readEnvironment } from "./config.js";
import { createHttpHandler, type HttpHandler } from "./http-server.js";
import { createLogger, type Logger, logDestination } from "./logger.js";
import { EmbeddedDatabaseError } from "./persistence/embedded.js";
import { exitOnSignals } from "./shutdown.js";

// The process: read the configuration, open the gateway, listen, and shut down on SIGTERM / SIGINT (src/shutdown.ts).

/** Listens on the configured address; resolves to the URL it serves. */
async function listen(config: Config, server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
}

/** How the listener stopped. */
interface Stopped {
  /** Connections still open after `timeoutMs` were closed. */
  readonly cut: boolean;
  /** Requests still running, without a client, after `timeoutMs`: the database closes under them. */
  readonly abandoned: number;
}

/**
 * Stops accepting connections and lets in-flight requests finish - also those whose client has left; idle keep-alive
 * connections are closed at once, and whatever still runs after `timeoutMs` is cut.
 */
async function stopListening(server: Server, handler: HttpHandler, timeoutMs: number, log: Logger): Promise<Stopped> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  log.info("no longer accepting connections: waiting for in-flight requests");
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      server.closeAllConnections();
      resolve();
    }, timeoutMs).unref();
  });
  await closed;
  const cut = timedOut;
  if (!timedOut && handler.running() > 0) {
    log.info({ running: handler.running() }, "waiting for requests whose clients left");
    await Promise.race([handler.idle(), deadline]);
  }
  clearTimeout(timer);
  return { cut, abandoned: handler.running() };
}

// A configuration error is reported before the configured logger exists: at "info", as a terminal would show it.
let log: Logger = createLogger("info", await logDestination("auto", false).catch(() => undefined));

try {
  const { env, envFile } = readEnvironment();
  const config = loadConfig(env);
  log = createLogger(config.logLevel, await logDestination(config.logFormat, config.production));
  if (envFile !== undefined) log.info({ file: envFile }, "configuration completed from .env (the environment wins)");
  // Armed before the start: a signal during the start is not lost.
  const shutdown = exitOnSignals(log, config.shutdownTimeoutMs);
  const gateway = await openGateway(config, log);
  const handler = createHttpHandler(gateway.app, gateway.metrics, log);
  const server = createServer(handler);
  let url: string;
  try {
    url = await listen(config, server);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  gateway.listening(url);
  log.info({ url, database: gateway.embedded ? "embedded" : "postgresql", pid: process.pid }, "gateway listening");
  shutdown.closeWith(async (progress) => {
    gateway.drain();
    progress("in-flight requests");
    const { cut, abandoned } = await stopListening(server, handler, config.shutdownTimeoutMs, log);
    if (cut) {
      log.warn(
        { timeoutMs: config.shutdownTimeoutMs },
        "requests still running after SHUTDOWN_TIMEOUT_MS: their connections were closed",
      );
    }
    if (abandoned > 0) {
      log.warn(
        { timeoutMs: config.shutdownTimeoutMs, running: abandoned },
        "requests still running after SHUTDOWN_TIMEOUT_MS: the database closes under them",
      );
    }
    await gateway.close(progress);
  });
} catch (error) {
  if (error instanceof ConfigError || error instanceof EmbeddedDatabaseError) log.fatal(error.message);
  else log.fatal({ err: error }, "failed to start");
  process.exit(1);
}
