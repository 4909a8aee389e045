import { type DestinationStream, type Logger, pino } from "pino";
import { requestContext } from "./observability/request-context.js";

export type { Logger };

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
