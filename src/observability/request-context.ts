import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

/** What every log line of one request carries. */
export interface RequestContext {
  readonly requestId: string;
}

/** The request being served, for log lines written anywhere below the HTTP handler. */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/** The caller's `X-Request-Id` when it is a sane token, else a fresh UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
}
