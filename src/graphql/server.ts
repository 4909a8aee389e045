import {
  createGraphQLError,
  maskError,
  type GraphiQLOptions as YogaGraphiQLOptions,
  type YogaServerOptions,
} from "graphql-yoga";
import type { BearerVerifier } from "../auth/bearer.js";
import { AuthError } from "../auth/errors.js";
import { UnavailableError } from "../domain/errors.js";
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
  readonly verifyBearer: BearerVerifier;
  readonly clientAddress: (request: Request, serverContext: unknown) => string | undefined;
  readonly log: Logger;
  /** GraphiQL on `GET /graphql`; `false`: off. */
  readonly graphiql: false | GraphiQLSetup;
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

const EXAMPLE_OPERATIONS = `# userinfo-bff: the signed-in user's profile.
# With the development issuer, the Authorization header below belongs to the user "demo-user".

query Me {
  userInfo { sub name nickname email emailVerified phoneNumber zoneinfo locale updatedAt claims }
}

mutation UpdateNickname {
  updateUserInfo(input: { nickname: "Ada", locale: "en_US", zoneinfo: "Asia/Shanghai" }) {
    __typename
    ... on UserInfo { sub nickname locale zoneinfo }
    ... on Error { code message field }
  }
}

mutation SendEmailCode {
  sendOtp(input: { email: "demo@example.com" }) {
    __typename
    ... on SendOtpSuccess { otpToken }
    ... on Error { code message field }
  }
}

mutation ChangeEmail {
  updateUserInfo(input: { email: "demo@example.com", emailOtpToken: "<otpToken>", emailOtp: "<code from the log>" }) {
    __typename
    ... on UserInfo { email emailVerified }
    ... on Error { code message field }
  }
}
`;

/** The yoga options of the GraphQL face: schema, per-request context, error masking, GraphiQL. */
export function graphQLOptions({ userInfo, otp, verifyBearer, clientAddress, log, graphiql }: GraphQLDeps) {
  return {
    schema,
    graphqlEndpoint: "/graphql",
    context: ({ request, ...serverContext }: { request: Request }): GraphQLContext => {
      let principal: Promise<Principal> | undefined;
      return {
        userInfo,
        otp,
        clientAddress: clientAddress(request, serverContext),
        principal: () =>
          (principal ??= verifyBearer(request.headers.get("authorization")).catch((error: unknown) => {
            throw error instanceof AuthError ? authenticationError(error) : error;
          })),
      };
    },
    maskedErrors: {
      maskError: (error: unknown, message: string, isDev?: boolean) => {
        const original = (error as { originalError?: unknown }).originalError ?? error;
        if (original instanceof UnavailableError) {
          log.warn({ err: original }, "dependency unavailable");
          return createGraphQLError("The service is temporarily unavailable.", {
            extensions: { code: "SERVICE_UNAVAILABLE", http: { status: 503, headers: { "Retry-After": "1" } } },
          });
        }
        const masked = maskError(error, message, isDev);
        if (masked !== error) log.error({ err: original }, "unexpected GraphQL error");
        return masked;
      },
    },
    graphiql:
      graphiql === false
        ? false
        : {
            title: "userinfo-bff",
            defaultQuery: EXAMPLE_OPERATIONS,
            headers: JSON.stringify(
              graphiql.authorization === undefined ? {} : { Authorization: graphiql.authorization },
            ),
          },
  } satisfies YogaServerOptions<Record<string, unknown>, GraphQLContext>;
}
