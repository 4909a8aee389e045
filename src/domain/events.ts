import { maskEmail, maskPhoneNumber } from "./audit.js";
import { hashOtpToken, type OtpRandom } from "./otp/secrets.js";
import type { UserChanges } from "./ports.js";

// Change events and identifier notices (SPEC 5.4): what a change publishes through the outbox, and the rules of
// their delivery (ordering streams, retry schedule). The outbox rows are written by the statement of the change.

/** An identifier whose replacement notifies the previous address. */
export type Identifier = "email" | "phone_number";

/** A notice to the previous address of an identifier, written only when the change replaces it with another value. */
export interface IdentifierNotice {
  readonly attribute: Identifier;
  /** The new value, masked (`b***@example.com`, `139****0000`): what the notice and the revert page show. */
  readonly maskedNewValue: string;
  /** The revert token: delivered in the notice's link, kept in the outbox only until the notice is delivered. */
  readonly revertToken: string;
  /** Its stored form (SHA-256). */
  readonly revertTokenHash: string;
  readonly revertExpiresAt: Date;
}

/** What one change writes to the outbox, in the statement of the change. */
export interface ChangeOutbox {
  /** The `changed` list of the `user.updated` event (REST attribute names). */
  readonly changed: readonly string[];
  /** One notice per identifier the change sets; written only when it replaces a different previous value. */
  readonly notices: readonly IdentifierNotice[];
}

/** The outbox entries of `changes` (attributes `changed`), with fresh revert tokens for identifier changes. */
export function changeOutboxOf(
  changes: UserChanges,
  changed: readonly string[],
  { random, now, revertTtlSeconds }: { random: Pick<OtpRandom, "token">; now: Date; revertTtlSeconds: number },
): ChangeOutbox {
  const notices: IdentifierNotice[] = [];
  const notice = (attribute: Identifier, maskedNewValue: string) => {
    const revertToken = random.token();
    notices.push({
      attribute,
      maskedNewValue,
      revertToken,
      revertTokenHash: hashRevertToken(revertToken),
      revertExpiresAt: new Date(now.getTime() + revertTtlSeconds * 1000),
    });
  };
  if (changes.email !== undefined) notice("email", maskEmail(changes.email));
  if (changes.phoneNumber !== undefined) notice("phone_number", maskPhoneNumber(changes.phoneNumber));
  return { changed, notices };
}

/** The stored form of a revert token: its SHA-256 (the token has 256 bits of entropy). */
export const hashRevertToken = (token: string): string => hashOtpToken(token);

/** Masks an identifier's value for display. */
export const maskIdentifier = (attribute: Identifier, value: string): string =>
  attribute === "email" ? maskEmail(value) : maskPhoneNumber(value);

/** The outbox streams: delivery order holds per user within a stream; the streams do not wait for each other. */
export type OutboxStream = "events" | "notices";

/** Delivery states of an outbox entry. */
export type OutboxStatus = "pending" | "delivered" | "dead";

/** A `user.updated` event as POSTed: the exact JSON body is stored, so every retry sends the same bytes. */
export interface UserUpdatedEvent {
  readonly type: "user.updated";
  readonly timestamp: string;
  readonly data: {
    readonly sub: string;
    readonly version: number;
    readonly changed: readonly string[];
    readonly attributes: Readonly<Record<string, unknown>>;
  };
}

/** An `identifier_changed` notice as stored (the revert link is made at delivery, from `PUBLIC_URL`). */
export interface IdentifierChangedNotice {
  readonly channel: "email" | "sms";
  /** The previous address. */
  readonly to: string;
  readonly attribute: Identifier;
  readonly newValue: string;
  readonly revertToken: string;
  /** When the revert link expires. */
  readonly expiresAt: Date;
}

/** One claimed outbox entry, ready to deliver. */
export type OutboxEntry = {
  readonly id: string;
  readonly sub: string;
  /** Failed attempts so far. */
  readonly attempts: number;
  /** The end of its retry window: a failure whose next attempt would fall after it makes the entry dead. */
  readonly retryUntil: Date;
} & (
  | { readonly stream: "events"; readonly body: string }
  | {
      readonly stream: "notices";
      /** `undefined` when the revert token was already erased (a notice can then no longer be sent). */
      readonly notice: IdentifierChangedNotice | undefined;
    }
);

/** The outcome of delivering one entry. */
export type DeliveryOutcome =
  | { readonly id: string; readonly delivered: true }
  | { readonly id: string; readonly delivered: false; readonly error: string; readonly nextAttemptAt: Date | null };

/** An outbox entry as the operator lists it. */
export interface OutboxListing {
  readonly id: string;
  readonly stream: OutboxStream;
  readonly type: string;
  readonly sub: string;
  readonly version: number;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly deliveredAt: Date | null;
}

/** The outbox, as the dispatcher and the operator use it. */
export interface OutboxRepository {
  /**
   * Claims up to `limit` due entries for `leaseMs`: for each user and stream only the earliest pending entry, and
   * only when no entry of that user and stream is leased by another dispatcher (rows claimed `FOR UPDATE SKIP LOCKED`).
   */
  claim(options: { now: Date; limit: number; leaseMs: number }): Promise<OutboxEntry[]>;
  /** Records outcomes: delivered, retried at `nextAttemptAt`, or dead (`nextAttemptAt` null). */
  settle(outcomes: readonly DeliveryOutcome[], now: Date): Promise<void>;
  /** Entries, newest first. */
  list(options: { status?: OutboxStatus; limit: number }): Promise<OutboxListing[]>;
  /**
   * Makes a dead (or delivered event) entry pending again, due now, with another 24 h of retries.
   * @returns false when there is no such entry, or it is a notice whose revert token is gone.
   */
  redeliver(id: string, now: Date): Promise<boolean>;
  /** The pending backlog: how many, and when the oldest was written. */
  backlog(): Promise<{ pending: number; oldestCreatedAt: Date | null }>;
  /** Deletes delivered entries and expired revert tokens older than `before`; returns how many rows. */
  purge(before: Date): Promise<number>;
}

/** How long an entry is retried before it is marked dead. */
export const RETRY_WINDOW_SECONDS = 24 * 3600;

const FIRST_RETRY_SECONDS = 1;
const LONGEST_RETRY_SECONDS = 3600;

/**
 * When to try again after the `attempts`-th failed attempt: exponential backoff (1 s, 2 s, 4 s, ... at most 1 h)
 * with "equal jitter" (a uniformly random half to whole of that delay, so that many entries failing together spread
 * out); `null` once the next attempt would fall after `retryUntil`: the entry is dead.
 * @param random a number in [0, 1)
 */
export function nextAttemptAt(attempts: number, now: Date, retryUntil: Date, random: number): Date | null {
  const ceiling = Math.min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.max(0, attempts - 1));
  const delayMs = (ceiling / 2 + (ceiling / 2) * random) * 1000;
  const next = new Date(now.getTime() + delayMs);
  return next.getTime() > retryUntil.getTime() ? null : next;
}

/** A notice as the delivery channels send it. */
export interface NoticeMessage {
  readonly channel: "email" | "sms";
  /** The previous address. */
  readonly to: string;
  readonly attribute: Identifier;
  /** The new value, masked. */
  readonly newValue: string;
  /** `<PUBLIC_URL>/userinfo/revert?token=<revert token>`. */
  readonly revertUrl: string;
  /** When the revert link expires. */
  readonly expiresAt: Date;
}

/** Delivers identifier change notices through the OTP delivery channels. */
export interface NoticeSender {
  /** @throws DeliveryFailure (or any error) when the channel did not take the notice. */
  sendNotice(notice: NoticeMessage): Promise<void>;
}

/** Delivers one `user.updated` event (its exact body) to the events receiver. */
export interface EventSender {
  /** @throws when the receiver did not answer 2xx in time. */
  sendEvent(event: { readonly id: string; readonly body: string }): Promise<void>;
}

/** True for the statuses the operator can filter by. */
export const isOutboxStatus = (value: string): value is OutboxStatus =>
  value === "pending" || value === "delivered" || value === "dead";
