import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { DataDirLockedError } from "./persistence/data-dir-lock.js";
import { startGateway } from "./runtime.js";

// The level comes from the configuration once it is read; a configuration error is reported at "info".
const log = createLogger("info");

try {
  const config = loadConfig();
  log.level = config.logLevel;
  const gateway = await startGateway(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (error) {
  if (error instanceof ConfigError || error instanceof DataDirLockedError) {
    log.fatal(error.message);
  } else {
    log.fatal({ err: error }, "failed to start");
  }
  process.exit(1);
}
