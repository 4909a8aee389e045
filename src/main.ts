import { ConfigError, loadConfig, readEnvironment } from "./config.js";
import { createLogger, logDestination, type Logger } from "./logger.js";
import { DataDirLockedError } from "./persistence/data-dir-lock.js";
import { startGateway } from "./runtime.js";
import { exitOnSignals } from "./shutdown.js";

// A configuration error is reported before the configured logger exists: at "info", as a terminal would show it.
let log: Logger = createLogger("info", await logDestination("auto", false).catch(() => undefined));

try {
  const { env, envFile } = readEnvironment();
  const config = loadConfig(env);
  log = createLogger(config.logLevel, await logDestination(config.logFormat, config.production));
  if (envFile !== undefined) log.info({ file: envFile }, "configuration completed from .env (the environment wins)");
  const shutdown = exitOnSignals(log, config.shutdownTimeoutMs);
  const gateway = await startGateway(config, log);
  shutdown.closeWith((progress) => gateway.close(progress));
} catch (error) {
  if (error instanceof ConfigError || error instanceof DataDirLockedError) {
    log.fatal(error.message);
  } else {
    log.fatal({ err: error }, "failed to start");
  }
  process.exit(1);
}
