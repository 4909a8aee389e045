import { auditRecordOf } from "./audit.js";
import { claimsListFor, claimsOfScopes, type UserInfo, userInfoOf } from "./claims.js";
import { DomainError } from "./errors.js";
import { changeOutboxOf } from "./events.js";
import type { Claim } from "./idempotency.js";
import { verifyOtps } from "./otp/challenges.js";
import type { OtpRandom } from "./otp/secrets.js";
import {
  type Clock,
  type Store,
  type TransactionalRepositories,
  UniqueViolation,
  type UserChanges,
  type UserRecord,
  type WriteOptions,
} from "./ports.js";
import type { Principal } from "./requesters.js";
import { namesUnknownAttribute, type UpdateCommand, type VerifiedChange, validateUpdate } from "./update-command.js";

/** Dependencies of {@link createUserInfoService}. */
export interface UserInfoServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly jitProvisioning: boolean;
  /** Claims of applications without a registered list; `undefined`: all. */
  readonly defaultClaims: readonly string[] | undefined;
  /** Revert tokens for the notices of identifier changes. */
  readonly random: Pick<OtpRandom, "token">;
  /** How long a revert link works. */
  readonly revertTtlSeconds: number;
  /** Called after a change committed (wakes the outbox dispatcher; never awaited by the request). */
  readonly changed?: () => void;
  /** Answers show only the claims of the token's scopes (SPEC 5.6). */
  readonly claimsByScope?: boolean;
  /** Identifier changes need an authentication at most this old (SPEC 5.3); `undefined`: no step-up. */
  readonly stepUpMaxAgeSeconds?: number | undefined;
}

/** How an update is conditioned (SPEC 5.1) and keyed (SPEC 5.2). */
export interface UpdateOptions {
  /** `If-Match`: the versions the caller saw (`"any"`: any existing profile); absent: unconditional. */
  readonly ifVersion?: readonly number[] | "any";
  /** The request's `Idempotency-Key`, taken before any effect: by the write itself, or before OTP codes are checked. */
  readonly key?: Claim;
}

/** Reading and updating one's own profile: the use cases every face calls. */
export type UserInfoService = ReturnType<typeof createUserInfoService>;

/** Creates the user-info service. */
export function createUserInfoService({
  store,
  clock,
  jitProvisioning,
  defaultClaims,
  random,
  revertTtlSeconds,
  changed = () => undefined,
  claimsByScope = false,
  stepUpMaxAgeSeconds,
}: UserInfoServiceDeps) {
  /**
   * The custom attribute definitions and the view of a profile for the calling application. A command that names an
   * attribute the (cached) definitions do not know rereads them once: an operator may have just defined it.
   */
  async function viewFor(principal: Principal, command?: UpdateCommand) {
    let [definitions, application] = await Promise.all([
      store.customAttributes.list(),
      principal.clientId === null ? null : store.applications.find(principal.clientId),
    ]);
    if (command !== undefined && namesUnknownAttribute(command, definitions)) {
      definitions = await store.customAttributes.list({ fresh: true });
    }
    let allowed = claimsListFor(application?.claims ?? null, defaultClaims, definitions);
    if (claimsByScope) allowed = claimsOfScopes(allowed, principal.scopes, definitions);
    return { definitions, view: (user: UserRecord) => userInfoOf(user, allowed, definitions) };
  }

  /**
   * The caller's profile as their application may read it.
   * @throws DomainError `user_not_found` when it does not exist and just-in-time provisioning is off
   */
  async function userInfo(principal: Principal): Promise<UserInfo> {
    const { view } = await viewFor(principal);
    const user = jitProvisioning
      ? await store.users.provision(principal.sub, clock.now())
      : await store.users.find(principal.sub);
    if (user === null) throw new DomainError("user_not_found");
    return view(user);
  }

  /**
   * Applies an update and returns the profile after it. Fails in the order of the contract (SPEC 1.1, with 5.3 and
   * 5.1 after its step 6); a failed update changes nothing except the attempt count of a token whose code was wrong.
   * @throws DomainError
   */
  async function updateUserInfo(
    principal: Principal,
    command: UpdateCommand,
    { ifVersion, key }: UpdateOptions = {},
  ): Promise<UserInfo> {
    const { definitions, view } = await viewFor(principal, command);
    const update = validateUpdate(command, definitions);
    const now = clock.now();
    if (update.verified.length > 0) requireRecentAuthentication(principal, now);
    const phone = update.verified.find((v) => v.attribute === "phone_number");
    const email = update.verified.find((v) => v.attribute === "email");
    const changes: UserChanges = {
      profile: update.profile,
      customSet: update.customSet,
      customUnset: update.customUnset,
      ...(email && { email: email.value }),
      ...(phone && { phoneNumber: phone.value }),
      updatedAt: now,
    };
    const audit = auditRecordOf(changes, principal.clientId);
    const outbox = changeOutboxOf(changes, audit.attributes, { random, now, revertTtlSeconds });
    const write: WriteOptions = {
      // A condition needs a profile to hold: none is created for it.
      createIfMissing: jitProvisioning && ifVersion === undefined,
      audit,
      outbox,
      ...(Array.isArray(ifVersion) && { expectedVersions: ifVersion }),
    };

    if (update.verified.length === 0) {
      if (isEmpty(changes)) {
        if (ifVersion === undefined) return userInfo(principal);
        const user = await store.users.find(principal.sub);
        if (!matches(ifVersion, user?.version ?? null)) throw preconditionFailed(user?.version ?? null);
        return view(user!);
      }
      const user = await store.users.write(principal.sub, changes, key ? { ...write, claim: key.claim } : write);
      key?.claimed();
      if (user !== null) {
        changed();
        return view(user);
      }
      if (ifVersion === undefined) throw new DomainError("user_not_found");
      throw preconditionFailed((await store.users.find(principal.sub))?.version ?? null);
    }

    await key?.take();
    const outcome = await store
      .transaction(async (tx) => {
        if (ifVersion !== undefined) {
          // Before any code is checked: a stale request counts no wrong code.
          const version = await tx.users.lockVersion(principal.sub);
          if (!matches(ifVersion, version)) return { failure: preconditionFailed(version) };
        }
        const proof = await verifyOtps(tx, principal, update.verified, now);
        // Returned rather than thrown: the transaction commits, so that wrong codes are counted.
        if ("failure" in proof) return proof;
        // The codes are consumed by the write's own statement: no write without them, no consumed code without it.
        const consume = { challengeIds: proof.challenges.map((c) => c.id), at: now };
        const user = await tx.users.write(principal.sub, changes, { ...write, consume });
        if (user === null) throw await missingUserError(tx, principal, update.verified);
        return { user };
      })
      .catch((error: unknown) => {
        if (error instanceof UniqueViolation) throw duplicateError(error.attribute);
        throw error;
      });
    if ("failure" in outcome) throw outcome.failure;
    changed();
    return view(outcome.user);
  }

  /** SPEC 5.3: with a step-up age set, an identifier change needs an `auth_time` at most that old. */
  function requireRecentAuthentication(principal: Principal, now: Date): void {
    if (stepUpMaxAgeSeconds === undefined) return;
    const age = principal.authTime === undefined ? Number.POSITIVE_INFINITY : now.getTime() / 1000 - principal.authTime;
    if (age > stepUpMaxAgeSeconds) {
      throw new DomainError("insufficient_user_authentication", { maxAgeSeconds: stepUpMaxAgeSeconds });
    }
  }

  return { userInfo, updateUserInfo };
}

/** Whether a profile at `version` (`null`: none) meets the condition (`"any"`: any existing profile). */
const matches = (ifVersion: readonly number[] | "any", version: number | null): boolean =>
  version !== null && (ifVersion === "any" || ifVersion.includes(version));

const preconditionFailed = (version: number | null) =>
  new DomainError("precondition_failed", version === null ? {} : { currentVersion: version });

function isEmpty(changes: UserChanges): boolean {
  return (
    Object.keys(changes.profile).length === 0 &&
    Object.keys(changes.customSet).length === 0 &&
    changes.customUnset.length === 0
  );
}

const duplicateError = (attribute: "email" | "phone_number") =>
  new DomainError(attribute === "email" ? "duplicate_email" : "duplicate_phone_number", { field: attribute });

/** Without just-in-time provisioning a missing user is reported last: after a duplicate address. */
async function missingUserError(
  tx: TransactionalRepositories,
  principal: Principal,
  verified: readonly VerifiedChange[],
): Promise<DomainError> {
  for (const { attribute, value } of verified) {
    const holder = await tx.users.holderOf(attribute, value);
    if (holder !== null && holder !== principal.sub) return duplicateError(attribute);
  }
  return new DomainError("user_not_found");
}
