import {
  parseUpdateRequest,
  UNKNOWN_ATTRIBUTES,
  VERIFIED_ATTRIBUTES,
  type VerifiedAttribute,
  type VerifiedChange,
} from "./attributes.js";
import { auditRecordOf } from "./audit.js";
import { claimsListFor, filterClaims, type Claims } from "./claims.js";
import { DomainError } from "./errors.js";
import { codeAccepts, hashOtpToken, tokenAccepts } from "./otp.js";
import {
  UniqueViolation,
  type Clock,
  type OtpChallenge,
  type Store,
  type TransactionalRepositories,
  type UserChanges,
  type UserRecord,
} from "./ports.js";

/** Who is asking: the token's subject and the application it was issued to. */
export interface Principal {
  readonly sub: string;
  readonly clientId: string | null;
}

/** Dependencies of {@link createUserInfoService}. */
export interface UserInfoServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly jitProvisioning: boolean;
  /** Claims of applications without a registered list; `undefined`: all. */
  readonly defaultClaims: readonly string[] | undefined;
}

/** Reading and updating one's own profile: the use cases both faces call. */
export type UserInfoService = ReturnType<typeof createUserInfoService>;

interface VerifiedStep {
  readonly attribute: VerifiedAttribute;
  readonly change: VerifiedChange;
}

/** Creates the user-info service. */
export function createUserInfoService({ store, clock, jitProvisioning, defaultClaims }: UserInfoServiceDeps) {
  async function claimsContext(principal: Principal, fresh = false) {
    const [customAttributes, application] = await Promise.all([
      store.customAttributes.list({ fresh }),
      principal.clientId === null ? null : store.applications.find(principal.clientId),
    ]);
    const allowed = claimsListFor(application?.claims ?? null, defaultClaims, customAttributes);
    return { customAttributes, claimsOf: (user: UserRecord) => filterClaims(user, allowed, customAttributes) };
  }

  /**
   * Validates an update against the definitions; when it names an attribute they do not know, once more against
   * freshly read ones (an operator may have just defined it, and definitions are cached).
   */
  async function parseWithDefinitions(principal: Principal, body: unknown) {
    const context = await claimsContext(principal);
    try {
      return { ...context, request: parseUpdateRequest(body, context.customAttributes) };
    } catch (error) {
      if (!(error instanceof DomainError && error.description === UNKNOWN_ATTRIBUTES)) throw error;
      const fresh = await claimsContext(principal, true);
      return { ...fresh, request: parseUpdateRequest(body, fresh.customAttributes) };
    }
  }

  /** The caller's claims, filtered for the calling application. */
  async function getUserInfo(principal: Principal): Promise<Claims> {
    const { claimsOf } = await claimsContext(principal);
    const user = jitProvisioning
      ? await store.users.provision(principal.sub, clock.now())
      : await store.users.find(principal.sub);
    if (user === null) throw new DomainError("user_not_found");
    return claimsOf(user);
  }

  /**
   * Applies an update request (the raw JSON body) and returns the claims after it.
   * Fails in the order of the wire contract; a failed request changes nothing except the attempt count of a token
   * whose code was wrong.
   * @throws DomainError
   */
  async function updateUserInfo(principal: Principal, body: unknown): Promise<Claims> {
    const { claimsOf, request } = await parseWithDefinitions(principal, body);
    const now = clock.now();
    const changes: UserChanges = {
      profile: request.profile,
      customSet: request.customSet,
      customUnset: request.customUnset,
      ...(request.email && { email: request.email.value }),
      ...(request.phoneNumber && { phoneNumber: request.phoneNumber.value }),
      updatedAt: now,
    };
    const audit = auditRecordOf(changes, principal.clientId);
    const verified: VerifiedStep[] = [];
    if (request.phoneNumber) verified.push({ attribute: "phone_number", change: request.phoneNumber });
    if (request.email) verified.push({ attribute: "email", change: request.email });

    if (verified.length === 0) {
      if (isEmpty(changes)) return getUserInfo(principal);
      const user = await store.users.write(principal.sub, changes, { createIfMissing: jitProvisioning, audit });
      if (user === null) throw new DomainError("user_not_found");
      return claimsOf(user);
    }

    const outcome = await store
      .transaction(async (tx) => {
        const proof = await verifyOtps(tx, principal, verified, now);
        // Returned rather than thrown: the transaction commits, so that wrong codes are counted.
        if ("failure" in proof) return proof;
        const user = await tx.users.write(principal.sub, changes, { createIfMissing: jitProvisioning, audit });
        if (user === null) throw await missingUserError(tx, principal, verified);
        for (const challenge of proof.challenges) await tx.otps.consume(challenge.id, now);
        return { user };
      })
      .catch((error: unknown) => {
        if (error instanceof UniqueViolation) throw duplicateError(error.attribute);
        throw error;
      });
    if ("failure" in outcome) throw outcome.failure;
    return claimsOf(outcome.user);
  }

  return { getUserInfo, updateUserInfo };
}

function isEmpty(changes: UserChanges): boolean {
  return (
    Object.keys(changes.profile).length === 0 &&
    Object.keys(changes.customSet).length === 0 &&
    changes.customUnset.length === 0
  );
}

const duplicateError = (attribute: "email" | "phone_number") =>
  new DomainError(attribute === "email" ? "duplicate_email" : "duplicate_phone_number", { field: attribute });

/**
 * Locks and checks every token, then every code; wrong codes are recorded. Returns the first failure (token errors
 * before code errors, phone number before email) or the challenges to consume.
 */
async function verifyOtps(
  tx: TransactionalRepositories,
  principal: Principal,
  verified: readonly VerifiedStep[],
  now: Date,
): Promise<{ failure: DomainError } | { challenges: OtpChallenge[] }> {
  // Locks are taken in the order of the token hashes, so that concurrent requests cannot deadlock whichever tokens
  // they name where; the checks then run phone number first.
  const hashes = verified.map(({ change }) => hashOtpToken(change.otpToken));
  const locked = new Map<string, OtpChallenge | null>();
  for (const hash of [...new Set(hashes)].sort()) locked.set(hash, await tx.otps.lockByTokenHash(hash));
  const challenges: OtpChallenge[] = [];
  for (const [i, { attribute, change }] of verified.entries()) {
    const challenge = locked.get(hashes[i]!) ?? null;
    const expected = {
      channel: VERIFIED_ATTRIBUTES[attribute].channel,
      target: change.target,
      clientId: principal.clientId,
      userSub: principal.sub,
    };
    if (challenge === null || !tokenAccepts(challenge, expected, now)) {
      const code = attribute === "email" ? "bad_email_otp_token" : "bad_phone_number_otp_token";
      return { failure: new DomainError(code, { field: VERIFIED_ATTRIBUTES[attribute].token }) };
    }
    challenges.push(challenge);
  }
  let failure: DomainError | undefined;
  for (const [i, { attribute, change }] of verified.entries()) {
    const challenge = challenges[i]!;
    if (codeAccepts(challenge, change.otpToken, change.otp, now)) continue;
    if (challenge.codeExpiresAt > now) await tx.otps.recordWrongCode(challenge.id);
    const code = attribute === "email" ? "bad_email_otp" : "bad_phone_number_otp";
    failure ??= new DomainError(code, { field: VERIFIED_ATTRIBUTES[attribute].code });
  }
  return failure === undefined ? { challenges } : { failure };
}

/** Without just-in-time provisioning a missing user is reported last: after a duplicate address. */
async function missingUserError(
  tx: TransactionalRepositories,
  principal: Principal,
  verified: readonly VerifiedStep[],
): Promise<DomainError> {
  for (const { attribute, change } of verified) {
    const holder = await tx.users.holderOf(attribute, change.value);
    if (holder !== null && holder !== principal.sub) return duplicateError(attribute);
  }
  return new DomainError("user_not_found");
}
