import { isUtf8 } from "node:buffer";
import type { TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { Plugin } from "graphql-yoga";
import { AuthError } from "../auth/errors.js";
import { DomainError, UNAVAILABLE_RETRY_AFTER_SECONDS, UnavailableError } from "../domain/errors.js";
import type { Principal } from "../domain/requesters.js";
import type { GraphQLDeps } from "../graphql/server.js";
import { withPlatformSignal } from "./native-request.js";
import { appRouter } from "./router.js";

/** Where the tRPC router is served. */
export const TRPC_ENDPOINT = "/trpc";

const PROCEDURES = ["userInfo", "updateUserInfo", "sendOtp"] as const satisfies readonly (keyof typeof appRouter)[];

/** The tRPC procedures' paths, for the request metrics. */
export const TRPC_PATHS: readonly string[] = PROCEDURES.map((name) => `${TRPC_ENDPOINT}/${name}`);

/** What the tRPC face needs: what the GraphQL face needs, without GraphiQL. */
export type TrpcDeps = Omit<GraphQLDeps, "graphiql">;

/** The most calls one batch may carry: each is a use case of its own (a write, a send), as many as requests. */
export const TRPC_MAX_BATCH_SIZE = 10;

/** The headers REST sends with a failure, sent by tRPC too: the bearer challenge, `Retry-After`. */
function headersFor(errors: readonly TRPCError[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const { cause } of errors) {
    if (cause instanceof AuthError) headers["www-authenticate"] = cause.challenge;
    if (cause instanceof DomainError && cause.retryAfterSeconds !== undefined) {
      headers["retry-after"] = String(cause.retryAfterSeconds);
    }
    if (cause instanceof UnavailableError) headers["retry-after"] = String(UNAVAILABLE_RETRY_AFTER_SECONDS);
  }
  return headers;
}

/**
 * The answer to a body that is not UTF-8, in tRPC's error shape (one error per call of a batch): REST refuses such a
 * body too, where tRPC's own decoding would store U+FFFD in its place.
 */
function notUtf8(url: URL): Response {
  const error = {
    error: {
      message: "The request body is not valid UTF-8.",
      code: -32600,
      data: { code: "BAD_REQUEST", httpStatus: 400, error: "invalid_request" },
    },
  };
  const calls = url.pathname.slice(TRPC_ENDPOINT.length + 1).split(",").length;
  const body = url.searchParams.get("batch") === null ? error : Array.from({ length: calls }, () => error);
  return new Response(JSON.stringify(body), { status: 400, headers: { "content-type": "application/json" } });
}

/** Serves the tRPC router at `/trpc` from the yoga server, as the REST routes are served. */
export function trpcPlugin({ userInfo, otp, idempotency, verifyBearer, clientAddress, log }: TrpcDeps): Plugin {
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      if (url.pathname !== TRPC_ENDPOINT && !url.pathname.startsWith(`${TRPC_ENDPOINT}/`)) return;
      let principal: Promise<Principal> | undefined;
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
      if (body !== undefined && !isUtf8(body)) {
        endResponse(notUtf8(url));
        return;
      }
      const response = await fetchRequestHandler({
        endpoint: TRPC_ENDPOINT,
        req: withPlatformSignal(request, body),
        router: appRouter,
        maxBatchSize: TRPC_MAX_BATCH_SIZE,
        createContext: () => ({
          userInfo,
          otp,
          idempotency,
          principal: () => {
            principal ??= verifyBearer(request.headers.get("authorization"));
            return principal;
          },
          clientAddress: clientAddress(request, serverContext),
        }),
        responseMeta: ({ errors }) => ({ headers: headersFor(errors) }),
        onError: ({ error, path }) => {
          if (error.code === "INTERNAL_SERVER_ERROR")
            log.error({ err: error.cause ?? error, path }, "unexpected error");
          else if (error.code === "SERVICE_UNAVAILABLE") log.warn({ err: error.cause, path }, "dependency unavailable");
        },
      });
      endResponse(response);
    },
  };
}
