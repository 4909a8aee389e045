import type { Idempotency } from "../domain/idempotency.js";
import type { OtpService } from "../domain/otp/send-otp.js";
import type { Principal } from "../domain/requesters.js";
import type { UserInfoService } from "../domain/user-info.js";

/** What every resolver gets: the domain services and the caller, authenticated on first use. */
export interface GraphQLContext {
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  readonly idempotency: Idempotency;
  /**
   * The caller, from the request's bearer token (verified once per request).
   * @throws GraphQLError UNAUTHENTICATED / FORBIDDEN, with the REST status and `WWW-Authenticate` header
   */
  principal(): Promise<Principal>;
  readonly clientAddress: string | undefined;
}
