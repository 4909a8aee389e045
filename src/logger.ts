import { pino, type DestinationStream, type Logger } from "pino";
import { ConfigError } from "./config.js";
import { requestContext } from "./observability/request-context.js";

export type { Logger };

/**
 * Where log lines go: JSON lines on stdout (`undefined`, pino's default), or human-readable lines through pino-pretty
 * for `pretty`, and for `auto` when stdout is a terminal outside production. pino-pretty is a dev dependency: in a
 * production tree `auto` stays JSON.
 * @throws ConfigError when `pretty` is asked for and pino-pretty is not installed.
 */
export async function logDestination(
  format: "auto" | "json" | "pretty",
  production: boolean,
): Promise<DestinationStream | undefined> {
  if (format === "json" || (format === "auto" && (production || process.stdout.isTTY !== true))) return undefined;
  let loaded;
  try {
    loaded = await import("pino-pretty");
  } catch (error) {
    if (format === "auto") return undefined;
    throw new ConfigError("LOG_FORMAT=pretty needs pino-pretty, a dev dependency: install it or set LOG_FORMAT=json", {
      cause: error,
    });
  }
  // Synchronous, so that the last lines before process.exit() are written.
  return loaded.default({
    sync: true,
    singleLine: true,
    colorize: process.stdout.isTTY === true,
    ignore: "service",
    translateTime: "SYS:HH:MM:ss.l",
  });
}

/**
 * The structured JSON logger. Authorization headers, tokens, codes and secrets are never logged: the redaction
 * list is a second line of defence behind not passing them in the first place.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "userinfo-bff" },
      // Every line written while serving a request names it.
      mixin: () => {
        const context = requestContext.getStore();
        return context === undefined ? {} : { requestId: context.requestId };
      },
      redact: {
        paths: [
          "req.headers.authorization",
          "*.authorization",
          "*.otp_token",
          "*.otpToken",
          "*.secret",
          "*.client_secret",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
