import { ConfigError, loadConfig, readEnvironment } from "./config.js";

// The container's HEALTHCHECK (`node dist/healthcheck.js`): exits 0 when the gateway of this configuration answers
// `GET /readyz` with 200 within 3 s, else 1, printing the answer. Slim images have neither curl nor wget.

const TIMEOUT_MS = 3_000;

try {
  const config = loadConfig(readEnvironment().env);
  // A gateway listening on every interface is asked on loopback.
  const host =
    config.host === "0.0.0.0"
      ? "127.0.0.1"
      : config.host === "::"
        ? "[::1]"
        : config.host.includes(":")
          ? `[${config.host}]`
          : config.host;
  const response = await fetch(`http://${host}:${config.port}/readyz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.stdout.write(`${response.status} ${await response.text()}\n`);
  process.exit(response.status === 200 ? 0 : 1);
} catch (error) {
  process.stdout.write(`unhealthy: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
}
