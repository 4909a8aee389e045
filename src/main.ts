import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { openGateway } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createHttpHandler } from "./http-server.js";
import { createLogger, type Logger } from "./logger.js";
import { EmbeddedDatabaseError } from "./persistence/embedded.js";

// The process: read the configuration, open the gateway, listen, and shut down on SIGTERM / SIGINT.

/** Listens on the configured address with the gateway's HTTP handler; resolves to the URL it serves. */
async function listen(config: Config, server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
}

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

async function run(log: Logger): Promise<void> {
  const config = loadConfig();
  log.level = config.logLevel;
  const gateway = await openGateway(config, log);
  const server = createServer(createHttpHandler(gateway.app, gateway.metrics, log));
  let url: string;
  try {
    url = await listen(config, server);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  log.info({ url, database: gateway.embedded ? "embedded" : "postgresql" }, "gateway listening");
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    gateway.drain();
    stopListening(server, config.shutdownTimeoutMs)
      .then(() => gateway.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

// The level comes from the configuration once it is read; a configuration error is reported at "info".
const log = createLogger("info");
try {
  await run(log);
} catch (error) {
  if (error instanceof ConfigError || error instanceof EmbeddedDatabaseError) log.fatal(error.message);
  else log.fatal({ err: error }, "failed to start");
  process.exit(1);
}
