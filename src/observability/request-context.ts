import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

/** What every log line of one request carries. */
export interface RequestContext {
  readonly requestId: string;
}

/** The request being served, for log lines written anywhere below the HTTP handler. */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/**
 * Whether the HTTP handler carries {@link requestContext} into what it calls, so that every line written while serving
 * a request names it. Node 24 keeps an `AsyncLocalStorage` in V8's continuation frames (`AsyncContextFrame`), nearly
 * free; Node 20's runs an async hook on every promise of the process once it is used - 20 % of a `GET`'s CPU, a third
 * of a GraphQL mutation's JavaScript (measured) - so on Node 20 (past its end of life) only the request line names the
 * request.
 */
export const carriesRequestContext = Number(process.versions.node.split(".", 1)[0]) >= 24;

/** Runs `serve` with `context` as the request context where the runtime carries it cheaply; else just runs it. */
export const withRequestContext: <T>(context: RequestContext, serve: () => T) => T = carriesRequestContext
  ? (context, serve) => requestContext.run(context, serve)
  : (_context, serve) => serve();

/** The caller's `X-Request-Id` when it is a sane token, else a fresh UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
}
