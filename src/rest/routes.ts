import { createHash } from "node:crypto";
import { Response } from "@whatwg-node/fetch";
import type { Plugin } from "graphql-yoga";
import type { JSONWebKeySet } from "jose";
import type { Registry } from "prom-client";
import { type BearerVerifier, bearerTokenOf } from "../auth/bearer.js";
import { basicCredentials, type ClientAuthenticator } from "../auth/client-authentication.js";
import { DomainError } from "../domain/errors.js";
import { type Claim, type Idempotency, jsonFingerprint } from "../domain/idempotency.js";
import type { OtpService } from "../domain/otp/send-otp.js";
import { KeyHeld } from "../domain/ports.js";
import type { OtpRequester } from "../domain/requesters.js";
import type { RevertService } from "../domain/revert.js";
import type { UserInfoService } from "../domain/user-info.js";
import type { Logger } from "../logger.js";
import type { Readiness } from "../observability/readiness.js";
import { jsonValueOf, parseJsonBody, readBody } from "./body.js";
import { claimsOf } from "./claims.js";
import { etagOf, ifMatchOf, notModified } from "./conditional.js";
import { decodeSendOtpCommand, decodeUpdateCommand } from "./decode.js";
import { apiDocsRoutes } from "./docs.js";
import { openApiDocument } from "./openapi.js";
import {
  errorFormatOf,
  errorResponse,
  inErrorFormat,
  keptOf,
  notModifiedResponse,
  ok,
  replay,
  responseForError,
  responseOf,
} from "./responses.js";
import { revertRoute } from "./revert.js";

/** What the REST face needs. */
export interface RestDeps {
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  /** The revert link of identifier change notices; absent: no `/userinfo/revert`. */
  readonly revert?: RevertService;
  readonly idempotency: Idempotency;
  readonly authenticateClient: ClientAuthenticator;
  /** The address of the client that sent a request, if known. */
  readonly clientAddress: (request: Request, serverContext: unknown) => string | undefined;
  readonly verifyBearer: BearerVerifier;
  /** The development issuer's public keys, served at `/.well-known/jwks.json` when it is active. */
  readonly devJwks: JSONWebKeySet | undefined;
  readonly log: Logger;
  /** Readiness for `/readyz`; absent: always ready. */
  readonly readiness?: () => Promise<Readiness>;
  /** The Prometheus registry served at `/metrics`; absent: no `/metrics`. */
  readonly metrics?: Registry;
  /** Serve the API reference page at `/docs`. */
  readonly apiDocs?: boolean;
}

type Handler = (request: Request, serverContext: unknown) => Promise<Response>;

const methodNotAllowed = (allow: string) =>
  errorResponse(405, "invalid_request", `Method not allowed; use ${allow}.`, { allow });

/** The Tencent-compatible REST routes: thin adapters that parse, call the domain, and map the result. */
export function createRestRoutes(deps: RestDeps): Map<string, Handler> {
  const { userInfo, otp, idempotency, authenticateClient, clientAddress, verifyBearer, devJwks, log } = deps;
  const { readiness, metrics } = deps;
  const routes = new Map<string, Handler>();

  /**
   * Answers with `handle` once per `Idempotency-Key` (SPEC 5.2) in `scope`; without the header, just answers. The
   * kept answer is replayed byte for byte with `Idempotent-Replayed: true`.
   */
  async function idempotent(
    request: Request,
    scope: readonly string[],
    handle: (body: () => unknown, key: Claim | undefined) => Promise<Response>,
  ): Promise<Response> {
    const body = await readBody(request);
    const json = () => parseJsonBody(request.headers.get("content-type"), body);
    const key = request.headers.get("idempotency-key");
    if (key === null) return handle(json, undefined);
    const parsed = jsonValueOf(body);
    const { answer, replayed } = await idempotency.once(
      {
        scope: JSON.stringify(["rest", ...scope]),
        key,
        // Compared as parsed JSON; a body that is not JSON, byte for byte.
        fingerprint:
          parsed === undefined
            ? `raw:${createHash("sha256").update(body).digest("base64url")}`
            : jsonFingerprint(parsed),
      },
      async (claim) => {
        const response = await handle(json, claim).catch((error: unknown) => {
          // Not an answer: the key is held by an earlier request, whose answer `once` gives instead.
          if (error instanceof KeyHeld) throw error;
          return responseForError(error, log);
        });
        return keptOf(response);
      },
    );
    return replayed ? replay(answer) : responseOf(answer);
  }

  routes.set("/userinfo", async (request) => {
    if (request.method !== "GET" && request.method !== "PATCH") return methodNotAllowed("GET, PATCH");
    const principal = await verifyBearer(request.headers.get("authorization"));
    if (request.method === "GET") {
      const info = await userInfo.userInfo(principal);
      const etag = etagOf(info.version);
      if (notModified(request.headers.get("if-none-match"), info.version)) return notModifiedResponse(etag);
      return ok(claimsOf(info), { etag });
    }
    return idempotent(request, ["PATCH /userinfo", "sub", principal.sub], async (body, key) => {
      const command = decodeUpdateCommand(body());
      const ifVersion = ifMatchOf(request.headers.get("if-match"));
      const info = await userInfo.updateUserInfo(principal, command, {
        ...(ifVersion !== undefined && { ifVersion }),
        ...(key !== undefined && { key }),
      });
      return ok(claimsOf(info), { etag: etagOf(info.version) });
    });
  });

  routes.set("/otp/send", async (request, serverContext) => {
    if (request.method !== "POST") return methodNotAllowed("POST");
    const authorization = request.headers.get("authorization");
    const basic = basicCredentials(authorization);
    const address = clientAddress(request, serverContext);
    let requester: OtpRequester;
    if (basic !== undefined)
      requester = { kind: "client", clientId: await authenticateClient(basic, address), address };
    else if (bearerTokenOf(authorization) !== undefined) {
      requester = { kind: "user", principal: await verifyBearer(authorization), address };
    } else throw new DomainError("invalid_client");
    const caller = requester.kind === "client" ? ["client", requester.clientId] : ["sub", requester.principal.sub];
    return idempotent(request, ["POST /otp/send", ...caller], async (body, key) => {
      const command = decodeSendOtpCommand(body());
      // A send counts against limits and delivers: the key is taken first.
      await key?.take();
      const { otpToken } = await otp.sendOtp(requester, command);
      return ok({ otp_token: otpToken }, { "cache-control": "no-store" });
    });
  });

  routes.set("/openapi.json", async (request) =>
    request.method === "GET" ? ok(openApiDocument(), { "cache-control": "no-cache" }) : methodNotAllowed("GET"),
  );
  if (deps.apiDocs === true) for (const [path, handler] of apiDocsRoutes(methodNotAllowed)) routes.set(path, handler);
  if (deps.revert !== undefined) routes.set("/userinfo/revert", revertRoute(deps.revert, log));

  routes.set("/healthz", async () => ok({ status: "ok" }, { "cache-control": "no-store" }));

  routes.set("/readyz", async () => {
    const state = (await readiness?.()) ?? { ready: true };
    const headers = { "content-type": "application/json", "cache-control": "no-store" };
    return state.ready
      ? ok({ status: "ready" }, { "cache-control": "no-store" })
      : new Response(JSON.stringify({ status: "not_ready", reason: state.reason }), {
          status: 503,
          statusText: "Service Unavailable",
          headers,
        });
  });

  if (metrics !== undefined) {
    routes.set(
      "/metrics",
      async () =>
        new Response(await metrics.metrics(), {
          status: 200,
          statusText: "OK",
          headers: { "content-type": metrics.contentType },
        }),
    );
  }

  if (devJwks !== undefined) {
    routes.set("/.well-known/jwks.json", async (request) =>
      request.method === "GET" ? ok(devJwks, { "cache-control": "public, max-age=300" }) : methodNotAllowed("GET"),
    );
  }

  const guarded = new Map<string, Handler>();
  for (const [path, handler] of routes) {
    guarded.set(path, async (request, serverContext) => {
      let response: Response;
      try {
        response = await handler(request, serverContext);
      } catch (error) {
        response = responseForError(error, log);
      }
      return inErrorFormat(response, errorFormatOf(request.headers.get("accept")));
    });
  }
  return guarded;
}

/** Serves the REST routes from the yoga server, in front of GraphQL. */
export function restPlugin(routes: Map<string, Handler>): Plugin {
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      const handler = routes.get(url.pathname);
      if (handler !== undefined) endResponse(await handler(request, serverContext));
    },
  };
}
