import { isUtf8 } from "node:buffer";
import { execute, GraphQLError } from "graphql";
import {
  createGraphQLError,
  maskError,
  type Plugin,
  type GraphiQLOptions as YogaGraphiQLOptions,
  type YogaServerOptions,
} from "graphql-yoga";
import type { BearerVerifier } from "../auth/bearer.js";
import { AuthError } from "../auth/errors.js";
import { UNAVAILABLE_RETRY_AFTER_SECONDS, UnavailableError } from "../domain/errors.js";
import type { Idempotency } from "../domain/idempotency.js";
import type { OtpService } from "../domain/otp/send-otp.js";
import type { Principal } from "../domain/requesters.js";
import type { UserInfoService } from "../domain/user-info.js";
import type { Logger } from "../logger.js";
import type { GraphQLContext } from "./context.js";
import { schema } from "./schema.js";

/** What the GraphQL face needs. */
export interface GraphQLDeps {
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  readonly idempotency: Idempotency;
  readonly verifyBearer: BearerVerifier;
  readonly clientAddress: (request: Request, serverContext: unknown) => string | undefined;
  readonly log: Logger;
  /** GraphiQL on `GET /graphql`; `false`: off. */
  readonly graphiql: false | GraphiQLSetup;
  /** "Did you mean ...?" in error messages (where introspection shows the schema anyway); default on. */
  readonly suggestions?: boolean;
}

/** GraphiQL for developers: a page renderer (bundled, no CDN) and an `Authorization` header to fill in. */
export interface GraphiQLSetup {
  readonly render: (options: YogaGraphiQLOptions) => string | Promise<string>;
  readonly authorization: string | undefined;
}

/** An authentication failure as a top-level GraphQL error with the REST status and challenge. */
function authenticationError(error: AuthError) {
  return createGraphQLError(error.description, {
    extensions: {
      code: error.code === "insufficient_scope" ? "FORBIDDEN" : "UNAUTHENTICATED",
      error: error.code,
      http: { status: error.status, headers: { "WWW-Authenticate": error.challenge } },
    },
  });
}

/**
 * GraphiQL's first tabs: the README's operations, each with its inputs in the variables editor, so that a developer
 * edits values rather than the document. The first tab says how to authenticate.
 */
export const GRAPHIQL_EXAMPLES: readonly { readonly query: string; readonly variables?: Record<string, unknown> }[] = [
  {
    query: `# userinfo-bff: the signed-in user's profile.
# With the development issuer, the Authorization header (Headers, below) belongs to the user "demo-user";
# mint another with \`npm run cli -- token <sub>\`. Start typing a field for suggestions.

query Me {
  userInfo { sub name nickname email emailVerified phoneNumber zoneinfo locale updatedAt claims }
}
`,
  },
  {
    query: `mutation UpdateNickname($input: UpdateUserInfoInput!) {
  updateUserInfo(input: $input) {
    __typename
    ... on UserInfo { sub nickname locale zoneinfo }
    ... on Error { code message field }
  }
}
`,
    variables: { input: { nickname: "Ada", locale: "en_US", zoneinfo: "Asia/Shanghai" } },
  },
  {
    query: `# The code goes to the log with OTP_DELIVERY=log (the development default).
mutation SendEmailCode($email: String!) {
  sendOtp(input: { email: $email }) {
    __typename
    ... on SendOtpSuccess { otpToken }
    ... on RateLimitExceededError { retryAfterSeconds }
    ... on Error { code message field }
  }
}
`,
    variables: { email: "demo@example.com" },
  },
  {
    query: `# otpToken: from SendEmailCode; code: from the log.
mutation ChangeEmail($email: String!, $otpToken: String!, $code: String!) {
  updateUserInfo(input: { email: $email, emailOtpToken: $otpToken, emailOtp: $code }) {
    __typename
    ... on UserInfo { email emailVerified }
    ... on Error { code message field }
  }
}
`,
    variables: { email: "demo@example.com", otpToken: "<otpToken from SendEmailCode>", code: "<code from the log>" },
  },
];

/** GraphiQL's page options: the example tabs, each with the demo `Authorization` header when there is one. */
function graphiQLPage(authorization: string | undefined): YogaGraphiQLOptions {
  const headers = JSON.stringify(authorization === undefined ? {} : { Authorization: authorization }, null, 2);
  return {
    title: "userinfo-bff",
    headers,
    defaultTabs: GRAPHIQL_EXAMPLES.map(({ query, variables }) => ({
      query,
      variables: variables === undefined ? null : JSON.stringify(variables, null, 2),
      headers,
    })),
    defaultEditorToolsVisibility: "variables",
  };
}

/** graphql-js' "Did you mean ...?" (`didYouMean`): names of the schema, each in quotes. */
const SUGGESTION = / Did you mean [^?]*\?/g;

/**
 * How errors reach GraphQL clients: an unavailable dependency as `SERVICE_UNAVAILABLE` (`503`, `Retry-After`), any
 * other unexpected error masked by yoga's default (and logged); GraphQL errors of the face itself as they are - but,
 * without `suggestions`, with no "Did you mean ...?", which names the schema's fields and enum values (graphql-armor
 * removes them from validation errors; this from the errors of execution, such as variables of the wrong shape).
 */
export function graphQLErrorMasker(log: Logger, suggestions = true) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = (error as { originalError?: unknown }).originalError ?? error;
    if (original instanceof UnavailableError) {
      log.warn({ err: original }, "dependency unavailable");
      return createGraphQLError("The service is temporarily unavailable.", {
        extensions: {
          code: "SERVICE_UNAVAILABLE",
          http: { status: 503, headers: { "Retry-After": String(UNAVAILABLE_RETRY_AFTER_SECONDS) } },
        },
      });
    }
    const masked = maskError(error, message, isDev);
    if (masked !== error) log.error({ err: original }, "unexpected GraphQL error");
    if (suggestions || !(masked instanceof GraphQLError) || !masked.message.includes(" Did you mean ")) return masked;
    return createGraphQLError(masked.message.replace(SUGGESTION, ""), {
      nodes: masked.nodes,
      source: masked.source,
      positions: masked.positions,
      path: masked.path,
      originalError: masked.originalError,
      extensions: masked.extensions,
    });
  };
}

/** The yoga options of the GraphQL face: schema, per-request context, error masking, GraphiQL. */
export function graphQLOptions({
  userInfo,
  otp,
  idempotency,
  verifyBearer,
  clientAddress,
  log,
  graphiql,
  suggestions = true,
}: GraphQLDeps) {
  return {
    schema,
    graphqlEndpoint: "/graphql",
    context: ({ request, ...serverContext }: { request: Request }): GraphQLContext => {
      let principal: Promise<Principal> | undefined;
      return {
        userInfo,
        otp,
        idempotency,
        clientAddress: clientAddress(request, serverContext),
        principal: () =>
          (principal ??= verifyBearer(request.headers.get("authorization")).catch((error: unknown) => {
            throw error instanceof AuthError ? authenticationError(error) : error;
          })),
      };
    },
    maskedErrors: { maskError: graphQLErrorMasker(log, suggestions) },
    graphiql: graphiql === false ? false : graphiQLPage(graphiql.authorization),
  } satisfies YogaServerOptions<Record<string, unknown>, GraphQLContext>;
}

/**
 * Refuses GraphQL request bodies that are not UTF-8 (`400`), as REST and tRPC do: yoga would decode them with U+FFFD
 * in place of the bad bytes, and a mutation would store that. The body then goes to the parser yoga chose for it.
 */
export function utf8Bodies(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (request.method !== "POST" || requestParser === undefined) return;
      setRequestParser(async (received) => {
        const body = await received.arrayBuffer();
        if (!isUtf8(body)) {
          throw createGraphQLError("The request body is not valid UTF-8.", {
            extensions: { code: "BAD_REQUEST", http: { status: 400 } },
          });
        }
        return requestParser(
          new fetchAPI.Request(received.url, { method: received.method, headers: received.headers, body }),
        );
      });
    },
  };
}

/**
 * Runs operations with graphql-js' own `execute` rather than yoga's default executor (@graphql-tools/executor), whose
 * additions - incremental delivery (`@defer` / `@stream`), subscriptions, cancellation - this schema has no use for.
 * Every plugin's execute hooks run around it as before (error masking, the limits, the context).
 */
export function graphqlJsExecution(): Plugin {
  return {
    onExecute({ setExecuteFn }) {
      setExecuteFn(execute);
    },
  };
}
