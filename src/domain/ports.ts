import type { Channel, CustomAttributeDefinition, CustomValue, ProfileAttribute } from "./attributes.js";
import type { AuditRecord } from "./audit.js";
import type { ChangeOutbox, OutboxRepository } from "./events.js";
import type { RevertTokenRepository } from "./revert.js";

/** The source of the current time; injected so tests control it. */
export interface Clock {
  now(): Date;
}

/** A stored profile. */
export interface UserRecord {
  readonly sub: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly phoneNumber: string | null;
  readonly phoneNumberVerified: boolean;
  readonly name: string | null;
  readonly nickname: string | null;
  readonly zoneinfo: string | null;
  readonly locale: string | null;
  readonly customAttributes: Readonly<Record<string, CustomValue>>;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The changes of one update, written in one statement. Setting `email` / `phoneNumber` marks it verified. */
export interface UserChanges {
  readonly profile: Partial<Record<ProfileAttribute, string | null>>;
  readonly customSet: Readonly<Record<string, CustomValue>>;
  readonly customUnset: readonly string[];
  readonly email?: string;
  readonly phoneNumber?: string;
  readonly updatedAt: Date;
}

/** A new profile created by the operator. */
export interface NewUser {
  readonly sub: string;
  readonly email?: string;
  readonly phoneNumber?: string;
  readonly name?: string;
  readonly createdAt: Date;
}

/** A unique attribute is already held by another user. Thrown by repositories, mapped by the domain. */
export class UniqueViolation extends Error {
  override name = "UniqueViolation";
  constructor(readonly attribute: "email" | "phone_number") {
    super(`${attribute} is already taken`);
  }
}

/** How a {@link UserRepository.write} is done. */
export interface WriteOptions {
  /** Create the profile when it does not exist. */
  readonly createIfMissing: boolean;
  readonly audit: AuditRecord;
  /** Write only when the stored version is one of these (checked atomically with the write). */
  readonly expectedVersions?: readonly number[];
  /** What the change publishes: its `user.updated` event, and notices for replaced identifiers (SPEC 5.4). */
  readonly outbox: ChangeOutbox;
  /**
   * Claim this `Idempotency-Key` in the same statement, and write only if the claim succeeds (one round trip for
   * both). @throws KeyHeld when the key is held
   */
  readonly claim?: KeyClaim;
  /** The OTP challenges whose codes proved the change, marked consumed at `at` by the same statement. */
  readonly consume?: { readonly challengeIds: readonly string[]; readonly at: Date };
}

/** Profiles. */
export interface UserRepository {
  find(sub: string): Promise<UserRecord | null>;
  /** Creates an empty profile for `sub` unless one exists, and returns the stored profile. */
  provision(sub: string, now: Date): Promise<UserRecord>;
  /** Creates a profile and its `user.updated` event in one statement. @throws UniqueViolation when `sub` exists already or an address is taken. */
  create(user: NewUser): Promise<UserRecord>;
  /**
   * Applies `changes` and records `audit` and the `outbox` entries (the event; a notice and a revert token for each
   * email / phone number replaced by another value) in one statement; with `createIfMissing` a missing profile is created.
   * @returns the profile after the write, or `null` when it does not exist and `createIfMissing` is false, or its
   *   version is not one of `expectedVersions`.
   * @throws UniqueViolation when the email or phone number belongs to another profile.
   */
  write(sub: string, changes: UserChanges, options: WriteOptions): Promise<UserRecord | null>;
  /** The profile's version, its row locked until the surrounding transaction ends; `null`: no profile. */
  lockVersion(sub: string): Promise<number | null>;
  /** The subject holding `email` (compared case-insensitively) or `phoneNumber`, if any. */
  holderOf(attribute: "email" | "phone_number", value: string): Promise<string | null>;
}

/** A stored OTP challenge. */
export interface OtpChallenge {
  readonly id: string;
  readonly codeHash: string;
  readonly channel: Channel;
  readonly target: string;
  readonly usage: string;
  readonly clientId: string | null;
  readonly userSub: string | null;
  readonly requester: string;
  readonly attempts: number;
  readonly codeExpiresAt: Date;
  readonly expiresAt: Date;
  readonly consumedAt: Date | null;
}

/** A challenge to store, without its generated fields. */
export type NewOtpChallenge = Omit<OtpChallenge, "id" | "attempts" | "consumedAt"> & { readonly tokenHash: string };

/** OTP challenges. */
export interface OtpRepository {
  /** The challenge with this token hash, locked until the surrounding transaction ends. */
  lockByTokenHash(tokenHash: string): Promise<OtpChallenge | null>;
  recordWrongCode(id: string): Promise<void>;
  /** Stores a challenge and retires the same requester's earlier live challenges for the same target and usage. */
  issue(challenge: NewOtpChallenge, now: Date): Promise<void>;
  /** Deletes challenges that expired before `before`; returns how many. */
  purgeExpired(before: Date): Promise<number>;
}

/** One limit a send is counted against: at most `max` sends per `windowSeconds` for `key`. */
export interface RateLimit {
  readonly key: string;
  readonly max: number;
  readonly windowSeconds: number;
}

/** The outcome of counting a send against its limits. */
export type RateLimitDecision =
  | {
      readonly allowed: true /** The recorded events, to forget if the send does not happen. */;
      readonly eventIds: readonly string[];
    }
  | { readonly allowed: false; readonly limit: RateLimit; readonly retryAfterSeconds: number };

/** Send counters shared by every gateway process. */
export interface RateLimitRepository {
  /** Atomically checks every limit and, when all allow it, records the send against each. */
  hit(limits: readonly RateLimit[], now: Date): Promise<RateLimitDecision>;
  /** Removes recorded events (a send that failed does not count). */
  forget(eventIds: readonly string[]): Promise<void>;
  /** Deletes events recorded before `before`; returns how many. */
  purge(before: Date): Promise<number>;
}

/** A registered application. */
export interface ApplicationRecord {
  readonly clientId: string;
  readonly secretHash: string | null;
  readonly claims: readonly string[];
}

/** Applications. */
export interface ApplicationRepository {
  find(clientId: string): Promise<ApplicationRecord | null>;
  list(): Promise<ApplicationRecord[]>;
  /** Creates or replaces an application. */
  save(application: ApplicationRecord): Promise<void>;
}

/** Custom attribute definitions. */
export interface CustomAttributeRepository {
  /** The definitions; `fresh`: read past any cache. */
  list(options?: { fresh?: boolean }): Promise<CustomAttributeDefinition[]>;
  save(definition: CustomAttributeDefinition): Promise<void>;
}

/** An answer kept for an `Idempotency-Key`, as the face that answered it renders it. */
export interface KeptAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Where an `Idempotency-Key` is scoped (route or mutation, and caller), the key, and what the request said. */
export interface IdempotentRequest {
  readonly scope: string;
  readonly key: string;
  /** A digest of the request's content: a repeat must match it. */
  readonly fingerprint: string;
}

/** A claim of an `Idempotency-Key`: the request's key, its owner, and the times it holds until. */
export interface KeyClaim {
  readonly request: IdempotentRequest;
  readonly owner: string;
  readonly now: Date;
  /** Until when an unanswered claim holds the key (a process that died while answering gives it up then). */
  readonly leaseUntil: Date;
  /** Until when the key and its answer are kept. */
  readonly expiresAt: Date;
}

/** An `Idempotency-Key` is held by an earlier request. Thrown by repositories; nothing was written. */
export class KeyHeld extends Error {
  override name = "KeyHeld";
  constructor() {
    super("the idempotency key is held by another request");
  }
}

/** A key held by an earlier request: its fingerprint, and its answer once it has one. */
export interface HeldKey {
  readonly fingerprint: string;
  readonly answer: KeptAnswer | null;
}

/** Idempotency keys, shared by every gateway process. */
export interface IdempotencyRepository {
  /**
   * Claims a key, unless a row holds it that has not expired and is not an abandoned claim (no answer after its
   * lease); with `answer`, keeps it at once (claim and answer in one statement).
   * @returns `null` when claimed, else what holds it
   */
  claim(claim: KeyClaim, answer?: KeptAnswer): Promise<HeldKey | null>;
  /** What holds a key now, if anything live does. */
  held(request: IdempotentRequest, now: Date): Promise<HeldKey | null>;
  /** Keeps `answer` for the key `owner` claimed. */
  keep(request: IdempotentRequest, owner: string, answer: KeptAnswer): Promise<void>;
  /** Gives up a claim without an answer to keep. */
  release(request: IdempotentRequest, owner: string): Promise<void>;
  /** Deletes keys that expired before `before`; returns how many. */
  purgeExpired(before: Date): Promise<number>;
}

/** The repositories that take part in one transaction. */
export interface TransactionalRepositories {
  readonly users: UserRepository;
  readonly otps: OtpRepository;
  readonly revertTokens: RevertTokenRepository;
}

/** Everything the domain persists. */
export interface Store extends TransactionalRepositories {
  readonly applications: ApplicationRepository;
  readonly rateLimits: RateLimitRepository;
  readonly customAttributes: CustomAttributeRepository;
  /** Change events and notices waiting for delivery. */
  readonly outbox: OutboxRepository;
  readonly idempotencyKeys: IdempotencyRepository;
  /** Runs `work` in one database transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: TransactionalRepositories) => Promise<T>): Promise<T>;
}

/** One code to deliver. */
export interface OtpMessage {
  readonly channel: Channel;
  /** The phone number (11 digits) or the email address. */
  readonly to: string;
  readonly code: string;
  readonly usage: string;
  /** When the code stops being accepted. */
  readonly expiresAt: Date;
}

/** Delivers codes (SMS and email): the log, a webhook, SMTP. */
export interface OtpSender {
  /**
   * Resolves once the channel accepted the message.
   * @throws DeliveryFailure when it did not; any other error counts as a failure that may have reached the provider
   */
  send(message: OtpMessage): Promise<void>;
}

/** A delivery that failed. Its message is for logs only. */
export class DeliveryFailure extends Error {
  override name = "DeliveryFailure";
  /**
   * @param mayHaveBeenSent false only when the provider certainly did not take the message (unreachable, or it
   *   refused it): a timeout or a 5xx may still deliver it, so such a send counts against the limits.
   */
  constructor(
    message: string,
    readonly mayHaveBeenSent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
