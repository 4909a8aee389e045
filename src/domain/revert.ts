import { DomainError } from "./errors.js";
import { hashRevertToken, type Identifier, maskIdentifier } from "./events.js";
import { type Clock, type Store, UniqueViolation, type UserChanges } from "./ports.js";

// The one-click revert of an identifier change (SPEC 5.4): the link in the notice to the previous address restores
// that address, verified, whatever the current value is.

/** A stored revert link (its token only as a hash). */
export interface RevertTokenRecord {
  readonly sub: string;
  readonly attribute: Identifier;
  /** The value the link restores. */
  readonly previousValue: string;
  /** The value that replaced it, masked. */
  readonly newValueMasked: string;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  readonly createdAt: Date;
}

/** Revert links. */
export interface RevertTokenRepository {
  find(tokenHash: string): Promise<RevertTokenRecord | null>;
  /** The link, locked until the surrounding transaction ends. */
  lock(tokenHash: string): Promise<RevertTokenRecord | null>;
  /**
   * Uses the link, and with it every unused link for the same user and attribute issued at or after it: those went
   * to addresses that replaced the one now restored, and must not undo the revert.
   */
  use(tokenHash: string, record: RevertTokenRecord, now: Date): Promise<void>;
}

/** What a revert link would do, for the page that asks to confirm it. */
export interface RevertPreview {
  readonly sub: string;
  readonly attribute: Identifier;
  /** The value it restores, masked. */
  readonly restored: string;
  /** The value it replaces, masked. */
  readonly replaced: string;
  readonly expiresAt: Date;
}

/** A done revert. */
export interface RevertResult {
  readonly sub: string;
  readonly attribute: Identifier;
  /** The restored value, masked. */
  readonly restored: string;
}

/** Dependencies of {@link createRevertService}. */
export interface RevertServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  /** Called after a revert committed (wakes the outbox dispatcher). */
  readonly changed?: () => void;
}

/** The revert use cases. */
export type RevertService = ReturnType<typeof createRevertService>;

const MAX_TOKEN_LENGTH = 256;

/** Creates the revert service. */
export function createRevertService({ store, clock, changed = () => undefined }: RevertServiceDeps) {
  const hashOf = (token: string) => {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new DomainError("invalid_revert_token");
    return hashRevertToken(token);
  };
  const usable = (record: RevertTokenRecord | null, now: Date): record is RevertTokenRecord =>
    record !== null && record.usedAt === null && record.expiresAt.getTime() > now.getTime();

  /**
   * What `token` would restore; changes nothing.
   * @throws DomainError `invalid_revert_token` when it is unknown, used or expired
   */
  async function preview(token: string): Promise<RevertPreview> {
    const record = await store.revertTokens.find(hashOf(token));
    if (!usable(record, clock.now())) throw new DomainError("invalid_revert_token");
    return {
      sub: record.sub,
      attribute: record.attribute,
      restored: maskIdentifier(record.attribute, record.previousValue),
      replaced: record.newValueMasked,
      expiresAt: record.expiresAt,
    };
  }

  /**
   * Restores the previous value (verified), audits it and writes its event, and uses the link, in one transaction.
   * A value another user took meanwhile fails with `duplicate_*` and leaves the link usable: once the address is
   * free again, the same link works.
   * @throws DomainError `invalid_revert_token`, `duplicate_email`, `duplicate_phone_number`
   */
  async function revert(token: string): Promise<RevertResult> {
    const hash = hashOf(token);
    const now = clock.now();
    const result = await store
      .transaction(async (tx) => {
        const record = await tx.revertTokens.lock(hash);
        if (!usable(record, now)) throw new DomainError("invalid_revert_token");
        const { sub, attribute, previousValue } = record;
        const changes: UserChanges = {
          profile: {},
          customSet: {},
          customUnset: [],
          ...(attribute === "email" ? { email: previousValue } : { phoneNumber: previousValue }),
          updatedAt: now,
        };
        const restored = maskIdentifier(attribute, previousValue);
        const audit = { clientId: null, attributes: [attribute], changes: { [attribute]: restored, reverted: true } };
        const user = await tx.users.write(sub, changes, {
          createIfMissing: false,
          audit,
          outbox: { changed: [attribute], notices: [] },
        });
        if (user === null) throw new DomainError("invalid_revert_token");
        await tx.revertTokens.use(hash, record, now);
        return { sub, attribute, restored };
      })
      .catch((error: unknown) => {
        if (error instanceof UniqueViolation) {
          throw new DomainError(error.attribute === "email" ? "duplicate_email" : "duplicate_phone_number", {
            field: error.attribute,
          });
        }
        throw error;
      });
    changed();
    return result;
  }

  return { preview, revert };
}
