import { type IncomingMessage, type RequestListener, type ServerResponse, STATUS_CODES } from "node:http";
import { Request } from "@whatwg-node/fetch";
import type { App, RestHandler } from "./app.js";
import { NodeRequestHeaders } from "./http-headers.js";
import type { Logger } from "./logger.js";
import { type Metrics, routeOf } from "./observability/metrics.js";
import { requestIdOf, withRequestContext } from "./observability/request-context.js";
import { errorBody, errorFormatOf } from "./rest/responses.js";

/** The largest request body accepted (bytes), on every route. */
export const MAX_BODY_BYTES = 64 * 1024;

const ERROR_TYPE = "application/json;charset=UTF-8";
const SERVER_ERROR = JSON.stringify({ error: "server_error", error_description: "An unexpected error occurred." });

/** The node:http handler, and what the shutdown asks it. */
export interface HttpHandler extends RequestListener {
  /** How many requests are being handled: those whose client has left included. */
  running(): number;
  /** Resolves once no request is being handled. */
  idle(): Promise<void>;
}

/**
 * The node:http handler in front of yoga: a request id for the logs and the `X-Request-Id` header, the request
 * metrics and log line, and the body read into memory up to {@link MAX_BODY_BYTES} (`413` beyond).
 *
 * Handing yoga the body as a Buffer (`req.body`) spares it the stream pipeline it otherwise reads bodies with, which
 * costs an aborted AbortController - a DOMException with its stack - per request: ~10 % of a GraphQL request's CPU.
 */
export function createHttpHandler(app: App, metrics: Metrics, log: Logger): HttpHandler {
  // Handlers are counted apart from connections: a request whose client left has no connection the server's close
  // waits for, but its handler may still be using the database the shutdown closes next.
  let running = 0;
  const waiting: (() => void)[] = [];
  const track = (res: ServerResponse, handling: unknown) => {
    running++;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      running--;
      if (running === 0) for (const resolve of waiting.splice(0)) resolve();
    };
    // Once the answer is being written its work is done; a client that leaves mid-answer (a full socket buffer that
    // never drains) must not keep the request counted.
    res.once("close", () => {
      if (res.headersSent) finished();
    });
    Promise.resolve(handling).then(finished, (error: unknown) => {
      finished();
      log.error({ err: error }, "unexpected error");
    });
  };
  // The last Host header found valid: clients send the same one on every request, so it is checked once.
  let validHost = "";
  const listener: RequestListener = (req, res) => {
    const requestId = requestIdOf(req.headers["x-request-id"]);
    const started = process.hrtime.bigint();
    res.setHeader("x-request-id", requestId);
    res.once("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req.url, app.routes);
      metrics.observeRequest(req.method ?? "", route, res.statusCode, seconds);
      // Skipped whole when the level hides it (LOG_LEVEL=warn). The id is in the line itself: the request context
      // may not be carried (Node 20), and where it is, pino lets the line's own field win over the mixin's.
      if (log.isLevelEnabled("info")) {
        log.info(
          { requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
          "request",
        );
      }
    });
    const host = req.headers.host;
    if (host !== undefined && host !== "" && host !== validHost && !isHost(host)) {
      // Neither a route nor yoga could make a URL of it (yoga's adapter would answer 500 with a stack trace).
      reply(req, res, 400, "The Host header is not a host name or address.");
      return;
    }
    if (host !== undefined && host !== "") validHost = host;
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const serve = () => {
      const body = (req as IncomingMessage & { body?: Buffer }).body;
      const headers = new NodeRequestHeaders(req.headers);
      const direct = app.directRoute(req.method ?? "GET", path, headers, body);
      track(
        res,
        withRequestContext({ requestId }, () =>
          direct === undefined ? app.yoga(req, res) : serveDirectly(direct, headers, req, res, log),
        ),
      );
    };
    if (req.method === "GET" || req.method === "HEAD") serve();
    else readBody(req, res, serve);
  };
  return Object.assign(listener, {
    running: () => running,
    idle: () => (running === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
  });
}

/**
 * Serves a REST route straight from node:http: a fetch `Request` over the node request (a view of its headers, the
 * body read already), the route's `Response` written with one `writeHead` and one `end`. The same route
 * through yoga's request pipeline (its server adapter and plugin hooks, which REST routes do not use) cost a third of
 * the CPU of a `PATCH /userinfo`. Only exact paths come here: anything else (other spellings, CORS) goes through yoga.
 */
async function serveDirectly(
  route: RestHandler,
  headers: NodeRequestHeaders,
  req: IncomingMessage,
  res: ServerResponse,
  log: Logger,
) {
  try {
    const body = (req as IncomingMessage & { body?: Buffer }).body;
    const method = req.method ?? "GET";
    // An empty Host (allowed for an authority-less URI) is as good as none, as in yoga's node adapter.
    const request = new Request(`http://${req.headers.host || "localhost"}${req.url ?? "/"}`, {
      method,
      // The view the dispatch read: a change (Content-Length on a bodiless DELETE) goes to its own copy.
      headers,
      // A Buffer is a Uint8Array over an ArrayBuffer (never a shared one here); the types cannot tell.
      ...(body === undefined || method === "GET" || method === "HEAD" ? {} : { body: body as Uint8Array<ArrayBuffer> }),
    });
    const response = await route(request, { req, res });
    const answer: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      answer[name] = value;
    });
    const text = await response.text();
    answer["content-length"] = String(Buffer.byteLength(text));
    res.writeHead(response.status, response.statusText, answer).end(text);
  } catch (error) {
    // The routes answer every error themselves: this is a request the adapter could not even form (a Host header
    // that makes no URL), or a broken connection.
    log.error({ err: error }, "unexpected error");
    if (!res.headersSent) res.writeHead(500, { "content-type": ERROR_TYPE }).end(SERVER_ERROR);
    else res.destroy();
  }
}

function readBody(req: IncomingMessage, res: ServerResponse, then: () => void): void {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    refuse(req, res);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.off("data", onData).off("end", onEnd);
      refuse(req, res);
    } else chunks.push(chunk);
  };
  const onEnd = () => {
    if (size > 0) (req as IncomingMessage & { body?: Buffer }).body = Buffer.concat(chunks, size);
    then();
  };
  req
    .on("data", onData)
    .on("end", onEnd)
    .on("error", () => req.destroy());
}

/** A `Host` header's value: a registered name, an IPv4 or a bracketed IPv6 address, and maybe a port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{0,5})?$/;
const isHost = (host: string) => HOST.test(host) && URL.canParse(`http://${host}/`);

/** Answers an error at once, in the format the `Accept` header asks for; `then` once it is written. */
function reply(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  description: string,
  headers: Record<string, string> = {},
  then?: () => void,
): void {
  const { contentType, body } = errorBody(status, "invalid_request", description, errorFormatOf(req.headers.accept));
  res.writeHead(status, STATUS_CODES[status], {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body, then);
}

function refuse(req: IncomingMessage, res: ServerResponse): void {
  reply(req, res, 413, "The request body is too large.", { connection: "close" }, () => req.destroy());
}
