import { initTRPC, type TRPC_ERROR_CODE_KEY, TRPCError } from "@trpc/server";
import { z } from "zod";
import { AuthError } from "../auth/errors.js";
import type { UserInfo } from "../domain/claims.js";
import { DomainError, UnavailableError } from "../domain/errors.js";
import type { Claim, Idempotency } from "../domain/idempotency.js";
import { OTP_USAGES } from "../domain/otp/challenges.js";
import type { OtpService } from "../domain/otp/send-otp.js";
import type { Principal } from "../domain/requesters.js";
import type { JsonValue } from "../domain/update-command.js";
import type { UserInfoService } from "../domain/user-info.js";
import { idempotentMutation } from "../graphql/idempotent.js";
import { UserInfoFailure } from "../graphql/types/errors.js";
import { OTP_TOKEN, sendOtpCommandOf } from "../graphql/types/send-otp.js";
import { updateCommandOf } from "../graphql/types/update-user-info.js";
import { userInfoCodec } from "../graphql/types/user-info.js";

// The tRPC face: the same use cases as REST and GraphQL, with GraphQL's camelCase inputs mapped into the same commands
// (the GraphQL face's mapping, shared), typed results out, and failures as tRPC errors carrying the REST code.

/** What every procedure gets: the domain services and the caller, authenticated on first use. */
export interface TrpcContext {
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  /** Answers kept per `idempotencyKey` (SPEC 5.2). */
  readonly idempotency: Idempotency;
  /**
   * The caller, from the request's bearer token (verified once per request).
   * @throws AuthError as REST answers it
   */
  principal(): Promise<Principal>;
  readonly clientAddress: string | undefined;
}

/** The REST code and details a tRPC error carries in `error.data`. */
export interface WireError {
  /** The REST error string (`duplicate_email`, `invalid_token`, `server_error`, ...). */
  readonly error: string;
  /** The input field at fault (camelCase, as GraphQL's `field`), where there is one. */
  readonly field?: string;
  /** Seconds until a rate-limited send may be retried. */
  readonly retryAfterSeconds?: number;
  /** `precondition_failed`: the profile's current version. */
  readonly currentVersion?: number;
  /** `insufficient_user_authentication`: the largest accepted age of the authentication, in seconds. */
  readonly maxAgeSeconds?: number;
}

const TRPC_CODE_BY_STATUS: Readonly<Record<number, TRPC_ERROR_CODE_KEY>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  412: "PRECONDITION_FAILED",
  422: "UNPROCESSABLE_CONTENT",
  429: "TOO_MANY_REQUESTS",
  503: "SERVICE_UNAVAILABLE",
};

const UNEXPECTED = "An unexpected error occurred.";
const UNAVAILABLE = "The service is temporarily unavailable.";

/** A known failure (domain, authentication, unavailable dependency) as the tRPC error it is answered with. */
function trpcErrorOf(cause: unknown): TRPCError | undefined {
  if (cause instanceof DomainError) {
    const failure = new UserInfoFailure(cause);
    // Tencent CIAM answers its rate limits with 400; a new face can say what they are.
    const code = cause.retryAfterSeconds !== undefined ? "TOO_MANY_REQUESTS" : TRPC_CODE_BY_STATUS[cause.status];
    return new TRPCError({ code: code ?? "BAD_REQUEST", message: failure.message, cause });
  }
  if (cause instanceof AuthError) {
    return new TRPCError({
      code: TRPC_CODE_BY_STATUS[cause.status] ?? "UNAUTHORIZED",
      message: cause.description,
      cause,
    });
  }
  if (cause instanceof UnavailableError)
    return new TRPCError({ code: "SERVICE_UNAVAILABLE", message: UNAVAILABLE, cause });
  return undefined;
}

/** The REST code of a tRPC error, by what caused it; tRPC's own failures (bad input, unknown path) are requests'. */
export function wireErrorOf(error: TRPCError): WireError {
  const cause = error.cause;
  if (cause instanceof DomainError) {
    const failure = new UserInfoFailure(cause);
    return {
      error: cause.code,
      ...(failure.field !== null && { field: failure.field }),
      ...(failure.retryAfterSeconds !== null && { retryAfterSeconds: failure.retryAfterSeconds }),
      ...(failure.currentVersion !== null && { currentVersion: failure.currentVersion }),
      ...(failure.maxAgeSeconds !== null && { maxAgeSeconds: failure.maxAgeSeconds }),
    };
  }
  if (cause instanceof AuthError) return { error: cause.code };
  if (cause instanceof UnavailableError) return { error: "temporarily_unavailable" };
  return { error: error.code === "INTERNAL_SERVER_ERROR" ? "server_error" : "invalid_request" };
}

const t = initTRPC.context<TrpcContext>().create({
  // Never a stack trace, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const masked = error.code === "INTERNAL_SERVER_ERROR";
    return {
      message: masked ? UNEXPECTED : shape.message,
      code: shape.code,
      data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path, ...wireErrorOf(error) },
    };
  },
});

/** Known failures become the tRPC errors of their REST status; anything else stays an internal (masked) error. */
const faceErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const known = trpcErrorOf(result.error.cause);
    if (known !== undefined) throw known;
  }
  return result;
});

const procedure = t.procedure.use(faceErrors);
const authenticated = procedure.use(async ({ ctx, next }) => next({ ctx: { principal: await ctx.principal() } }));

/** A profile as tRPC returns it: the domain's {@link UserInfo}, `updatedAt` in seconds since the epoch (as on REST and GraphQL). */
export type UserInfoResult = Omit<UserInfo, "updatedAt"> & { readonly updatedAt?: number };

const resultOf = ({ updatedAt, ...info }: UserInfo): UserInfoResult => ({
  ...info,
  ...(updatedAt !== undefined && { updatedAt: Math.floor(updatedAt.getTime() / 1000) }),
});

const text = z.string().nullable().optional();
/** Like GraphQL's: 1..255 visible ASCII characters, checked by the idempotency rules. */
const idempotencyKey = z.string().nullable().optional();

/** `updateUserInfo`'s input: GraphQL's `UpdateUserInfoInput` (an omitted field is left alone; null removes). */
export const updateUserInfoInput = z.strictObject({
  name: text,
  nickname: text,
  zoneinfo: text,
  locale: text,
  phoneNumber: text,
  phoneNumberOtpToken: text,
  phoneNumberOtp: text,
  email: text,
  emailOtpToken: text,
  emailOtp: text,
  // Passed on as sent: the shared mapping checks that it is an object, and keys like `__proto__` stay own keys.
  customAttributes: z.custom<Readonly<Record<string, JsonValue>> | null>().optional(),
  /** Change only if the profile is still at this version (`If-Match`); else `precondition_failed`. */
  ifVersion: z.int32().nullable().optional(),
  idempotencyKey,
});

/** `sendOtp`'s input: GraphQL's `SendOtpInput`, the usage spelled as on REST (default `update_userinfo`). */
export const sendOtpInput = z.strictObject({
  usage: z.enum(OTP_USAGES).nullable().optional(),
  phoneNumber: text,
  email: text,
  idempotencyKey,
});

/** The tRPC router: `userInfo` (query), `updateUserInfo` and `sendOtp` (mutations). */
export const appRouter = t.router({
  /** The signed-in user's profile as the calling application may read it; null without a profile (JIT off). */
  userInfo: authenticated.query(async ({ ctx }): Promise<UserInfoResult | null> => {
    try {
      return resultOf(await ctx.userInfo.userInfo(ctx.principal));
    } catch (error) {
      if (error instanceof DomainError && error.code === "user_not_found") return null;
      throw error;
    }
  }),
  /** Updates the signed-in user's profile with the rules of `PATCH /userinfo`. */
  updateUserInfo: authenticated.input(updateUserInfoInput).mutation(async ({ ctx, input }) => {
    const options = typeof input.ifVersion === "number" ? { ifVersion: [input.ifVersion] } : {};
    const update = (key: Claim | undefined) =>
      ctx.userInfo.updateUserInfo(ctx.principal, updateCommandOf(input), { ...options, ...(key && { key }) });
    // Kept apart from GraphQL's answers: each face replays its own.
    return resultOf(
      await idempotentMutation(ctx.idempotency, "trpc.updateUserInfo", ctx.principal, input, update, userInfoCodec),
    );
  }),
  /** Sends a code to a new phone number or email of the signed-in user (`POST /otp/send`, Bearer form). */
  sendOtp: authenticated.input(sendOtpInput).mutation(({ ctx, input }) => {
    const requester = { kind: "user" as const, principal: ctx.principal, address: ctx.clientAddress };
    const send = async (key: Claim | undefined) => {
      // As GraphQL's: a send counts against limits and delivers, so the key is taken first.
      await key?.take();
      return ctx.otp.sendOtp(requester, sendOtpCommandOf(input));
    };
    return idempotentMutation(ctx.idempotency, "trpc.sendOtp", ctx.principal, input, send, OTP_TOKEN);
  }),
});

/** The router's type, for `@trpc/client`: `import type { AppRouter } from "userinfo-bff/trpc"`. */
export type AppRouter = typeof appRouter;
