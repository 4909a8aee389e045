import type { Plugin } from "graphql-yoga";
import type { JSONWebKeySet } from "jose";
import type { BearerVerifier } from "../auth/bearer.js";
import type { UserInfoService } from "../domain/service.js";
import type { Logger } from "../logger.js";
import { PayloadTooLargeError, readJsonBody } from "./body.js";
import { errorResponse, ok, responseForError } from "./responses.js";

/** What the REST face needs. */
export interface RestDeps {
  readonly userInfo: UserInfoService;
  readonly verifyBearer: BearerVerifier;
  /** The development issuer's public keys, served at `/.well-known/jwks.json` when it is active. */
  readonly devJwks: JSONWebKeySet | undefined;
  readonly log: Logger;
}

type Handler = (request: Request) => Promise<Response>;

const methodNotAllowed = (allow: string) =>
  errorResponse(405, "invalid_request", `Method not allowed; use ${allow}.`, { allow });

/** The Tencent-compatible REST routes: thin adapters that parse, call the domain, and map the result. */
export function createRestRoutes({ userInfo, verifyBearer, devJwks, log }: RestDeps): Map<string, Handler> {
  const routes = new Map<string, Handler>();

  routes.set("/userinfo", async (request) => {
    if (request.method !== "GET" && request.method !== "PATCH") return methodNotAllowed("GET, PATCH");
    const principal = await verifyBearer(request.headers.get("authorization"));
    if (request.method === "GET") return ok(await userInfo.getUserInfo(principal));
    return ok(await userInfo.updateUserInfo(principal, await readJsonBody(request)));
  });

  if (devJwks !== undefined) {
    routes.set("/.well-known/jwks.json", async (request) =>
      request.method === "GET" ? ok(devJwks, { "cache-control": "public, max-age=300" }) : methodNotAllowed("GET"),
    );
  }

  const guarded = new Map<string, Handler>();
  for (const [path, handler] of routes) {
    guarded.set(path, async (request) => {
      try {
        return await handler(request);
      } catch (error) {
        if (error instanceof PayloadTooLargeError) {
          return errorResponse(413, "invalid_request", "The request body is too large.");
        }
        return responseForError(error, log);
      }
    });
  }
  return guarded;
}

/** Serves the REST routes from the yoga server, in front of GraphQL. */
export function restPlugin(routes: Map<string, Handler>): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      const handler = routes.get(url.pathname);
      if (handler !== undefined) endResponse(await handler(request));
    },
  };
}
