import type { IncomingMessage } from "node:http";

/**
 * How the client's address is found: the TCP peer, or - behind a trusted proxy - the left-most
 * `X-Forwarded-For` entry.
 */
export function clientAddressResolver(trustProxy: boolean) {
  return (request: Request, serverContext: unknown): string | undefined => {
    if (trustProxy) {
      const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
      if (forwarded !== undefined && forwarded.length > 0) return forwarded;
    }
    return (serverContext as { req?: IncomingMessage } | undefined)?.req?.socket?.remoteAddress;
  };
}
