import type { Principal, UserInfoService } from "../domain/service.js";
import type { OtpService } from "../otp/service.js";

/** What every resolver gets: the domain services and the caller, authenticated on first use. */
export interface GraphQLContext {
  readonly userInfo: UserInfoService;
  readonly otp: OtpService;
  /**
   * The caller, from the request's bearer token (verified once per request).
   * @throws GraphQLError UNAUTHENTICATED / FORBIDDEN, with the REST status and `WWW-Authenticate` header
   */
  principal(): Promise<Principal>;
  readonly clientAddress: string | undefined;
}
