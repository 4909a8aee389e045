import {
  type ChangeOutbox,
  type IdentifierChangedNotice,
  type OutboxEntry,
  type OutboxListing,
  type OutboxRepository,
  RETRY_WINDOW_SECONDS,
} from "../../domain/events.js";
import type { UserChanges } from "../../domain/ports.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `outbox_events` and `revert_tokens`: the CTEs a change adds to its own statement, and the
// dispatcher's and the operator's statements.

/** The stored attributes of the row `w` (a written `users` row), as the event's `attributes` object. */
const ATTRIBUTES = Prisma.raw(`jsonb_strip_nulls(jsonb_build_object(
    'email', w.email, 'email_verified', CASE WHEN w.email IS NULL THEN NULL ELSE w.email_verified END,
    'phone_number', w.phone_number,
    'phone_number_verified', CASE WHEN w.phone_number IS NULL THEN NULL ELSE w.phone_number_verified END,
    'name', w.name, 'nickname', w.nickname, 'zoneinfo', w.zoneinfo, 'locale', w.locale)) || w.custom_attributes`);

/** The columns that say whether a notice applies: the previous value differs from the written one. */
const REPLACED = {
  email: Prisma.raw("lower(p.email) <> lower(w.email)"),
  phone_number: Prisma.raw("p.phone_number <> w.phone_number"),
} as const;

/**
 * The parts of a change's statement that write its outbox rows, around a CTE `written` (the `users` row after the
 * change): `before` a locked `previous` CTE (the row before the change, read first) when the change sets an email or
 * phone number; `after` the CTEs inserting the `user.updated` event and, for an identifier replaced by another
 * value, its notice and revert token. The write must reference `previous` (`readsPrevious`) so that it is read
 * before the row is written.
 */
export function outboxStatements(
  sub: string,
  changes: Pick<UserChanges, "updatedAt">,
  outbox: ChangeOutbox,
): { readsPrevious: boolean; before: Prisma.Sql; after: Prisma.Sql } {
  const now = changes.updatedAt;
  const retryUntil = new Date(now.getTime() + RETRY_WINDOW_SECONDS * 1000);
  const parts = [
    Prisma.sql`,
    evented AS (
      INSERT INTO outbox_events (stream, type, sub, version, payload, next_attempt_at, retry_until, created_at)
      SELECT 'events', 'user.updated', w.sub, w.version,
        jsonb_build_object('type', 'user.updated', 'timestamp', ${now.toISOString()}::text, 'data', jsonb_build_object(
          'sub', w.sub, 'version', w.version, 'changed', ${JSON.stringify(outbox.changed)}::jsonb,
          'attributes', ${ATTRIBUTES})),
        ${dueAfterPending("events", now)}, ${retryUntil}, ${now}
      FROM written w
    )`,
  ];
  for (const notice of outbox.notices) {
    const attribute = notice.attribute;
    const column = Prisma.raw(attribute === "email" ? "p.email" : "p.phone_number");
    const name = Prisma.raw(attribute);
    const payload = Prisma.sql`jsonb_build_object('channel', ${attribute === "email" ? "email" : "sms"}::text,
      'to', ${column}, 'attribute', ${attribute}::text, 'new_value', ${notice.maskedNewValue}::text,
      'expires_at', ${notice.revertExpiresAt.toISOString()}::text)`;
    parts.push(Prisma.sql`,
    noticed_${name} AS (
      INSERT INTO outbox_events (stream, type, sub, version, payload, secret, next_attempt_at, retry_until, created_at)
      SELECT 'notices', 'identifier_changed', w.sub, w.version, ${payload}, ${notice.revertToken},
        ${dueAfterPending("notices", now)}, ${retryUntil}, ${now}
      FROM written w JOIN previous p ON ${REPLACED[attribute]}
    ),
    revertable_${name} AS (
      INSERT INTO revert_tokens (token_hash, sub, attribute, previous_value, new_value_masked, expires_at, created_at)
      SELECT ${notice.revertTokenHash}, w.sub, ${attribute}, ${column}, ${notice.maskedNewValue},
        ${notice.revertExpiresAt}, ${now}
      FROM written w JOIN previous p ON ${REPLACED[attribute]}
    )`);
  }
  const readsPrevious = outbox.notices.length > 0;
  return {
    readsPrevious,
    // Locked, so that under concurrent changes it is the row this change replaces (READ COMMITTED rereads it).
    before: readsPrevious
      ? Prisma.sql`previous AS MATERIALIZED (SELECT email, phone_number FROM users WHERE sub = ${sub} FOR UPDATE),`
      : Prisma.empty,
    after: Prisma.join(parts, ""),
  };
}

/**
 * When a new row of the user `w.sub` is first due: now, or - when an earlier row of the same stream is still pending
 * (being retried) - not before that one. The dispatcher's claim, walking the backlog in `seq` order, then passes the
 * rows waiting behind a retrying one on their due time alone, without probing for an earlier row of theirs (during a
 * receiver's outage a claim walks the backlog once per poll: ~12,000 rows after a minute of 200 changes/s).
 */
// version >= 0 (always true) is the predicate of outbox_events_probe_idx, the pending rows by user: the one index this
// probe can read, whatever the statistics (migration 20261129050000_outbox_probe_indexes).
const dueAfterPending = (stream: "events" | "notices", now: Date) => Prisma.sql`GREATEST(${now}::timestamptz,
  (SELECT max(b.next_attempt_at) FROM outbox_events b
   WHERE b.status = 'pending' AND b.version >= 0 AND b.stream = ${stream} AND b.sub = w.sub))`;

interface ClaimedRow {
  id: string;
  stream: "events" | "notices";
  sub: string;
  attempts: number;
  retryUntil: Date;
  payload: Record<string, unknown>;
  secret: string | null;
}

/** The webhook body of a stored `user.updated` event, its keys in the order of SPEC 5.4. */
function eventBody(payload: Record<string, unknown>): string {
  const data = payload.data as Record<string, unknown>;
  return JSON.stringify({
    type: payload.type,
    timestamp: payload.timestamp,
    data: { sub: data.sub, version: data.version, changed: data.changed, attributes: data.attributes },
  });
}

function noticeOf(payload: Record<string, unknown>, secret: string | null): IdentifierChangedNotice | undefined {
  if (secret === null) return undefined;
  return {
    channel: payload.channel as IdentifierChangedNotice["channel"],
    to: String(payload.to),
    attribute: payload.attribute as IdentifierChangedNotice["attribute"],
    newValue: String(payload.new_value),
    revertToken: secret,
    expiresAt: new Date(String(payload.expires_at)),
  };
}

const LISTING = Prisma.raw(`id, stream, type, sub, version, status, attempts, next_attempt_at AS "nextAttemptAt",
  last_error AS "lastError", created_at AS "createdAt", delivered_at AS "deliveredAt"`);

/** The domain's {@link OutboxRepository} on `db`. */
export function outboxQueries(db: Executor): OutboxRepository {
  return {
    async claim({ now, limit, leaseMs }) {
      const rows = await db.query<ClaimedRow>(Prisma.sql`
        WITH heads AS (
          SELECT e.id FROM outbox_events e
          -- attempts >= 0 (always true) is the predicate of outbox_events_claim_idx, the pending rows in seq order:
          -- the walk's one index, and no other query's (migration 20261129050000_outbox_probe_indexes).
          WHERE e.status = 'pending' AND e.attempts >= 0 AND e.next_attempt_at <= ${now}
            AND (e.leased_until IS NULL OR e.leased_until <= ${now})
            -- The head of its user's stream: no earlier pending row of it. OFFSET 0 keeps this a probe per candidate
            -- (of outbox_events_probe_idx, on all three columns: version >= 0 is its predicate): as an anti-join
            -- PostgreSQL 18's generic plan rescanned the whole backlog for each candidate, and as min(seq), or
            -- from another index, it walked the backlog (and every row delivered since the last vacuum) for each.
            AND NOT EXISTS (
              SELECT 1 FROM outbox_events b
              WHERE b.status = 'pending' AND b.version >= 0 AND b.stream = e.stream AND b.sub = e.sub AND b.seq < e.seq
              OFFSET 0)
          ORDER BY e.seq
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        )
        UPDATE outbox_events o SET leased_until = ${new Date(now.getTime() + leaseMs)}
        FROM heads WHERE o.id = heads.id
        RETURNING o.id, o.stream, o.sub, o.attempts, o.retry_until AS "retryUntil", o.payload, o.secret`);
      return rows.map((row): OutboxEntry => {
        const common = { id: row.id, sub: row.sub, attempts: row.attempts, retryUntil: row.retryUntil };
        return row.stream === "events"
          ? { ...common, stream: "events", body: eventBody(row.payload) }
          : { ...common, stream: "notices", notice: noticeOf(row.payload, row.secret) };
      });
    },
    async settle(outcomes, now) {
      if (outcomes.length === 0) return;
      await db.query(Prisma.sql`
        WITH settled AS (
        UPDATE outbox_events o SET
          status = CASE WHEN x.delivered THEN 'delivered' WHEN x.next IS NULL THEN 'dead' ELSE 'pending' END,
          attempts = o.attempts + 1,
          next_attempt_at = COALESCE(x.next, o.next_attempt_at),
          leased_until = NULL,
          last_error = x.error,
          delivered_at = CASE WHEN x.delivered THEN ${now}::timestamptz ELSE NULL END,
          -- A delivered notice's revert token is no longer needed here: only its hash stays (revert_tokens).
          secret = CASE WHEN x.delivered THEN NULL ELSE o.secret END
        FROM unnest(${outcomes.map((o) => o.id)}::uuid[], ${outcomes.map((o) => o.delivered)}::boolean[],
                    ${outcomes.map((o) => (o.delivered || o.nextAttemptAt === null ? null : o.nextAttemptAt.toISOString()))}::timestamptz[],
                    ${outcomes.map((o) => (o.delivered ? null : o.error))}::text[]) AS x(id, delivered, next, error)
        WHERE o.id = x.id
        RETURNING o.stream, o.sub, o.seq, o.next_attempt_at, o.status
        )
        -- The rows waiting behind one that is retried are not due before it (see dueAfterPending; version >= 0, as
        -- there, reads outbox_events_probe_idx).
        UPDATE outbox_events f SET next_attempt_at = s.next_attempt_at
        FROM settled s
        WHERE s.status = 'pending' AND f.status = 'pending' AND f.version >= 0 AND f.stream = s.stream AND f.sub = s.sub
          AND f.seq > s.seq AND f.next_attempt_at < s.next_attempt_at`);
    },
    async list({ status, limit }) {
      // Pending rows through outbox_events_claim_idx (attempts >= 0, its predicate), the others outbox_events_settled_idx.
      return db.query<OutboxListing>(Prisma.sql`
        SELECT ${LISTING} FROM outbox_events
        ${status === undefined ? Prisma.empty : Prisma.sql`WHERE status = ${status}`}${status === "pending" ? Prisma.sql` AND attempts >= 0` : Prisma.empty}
        ORDER BY seq DESC LIMIT ${limit}`);
    },
    async redeliver(id, now) {
      const rows = await db.query<{ id: string }>(Prisma.sql`
        UPDATE outbox_events SET status = 'pending', next_attempt_at = ${now}, leased_until = NULL,
          retry_until = ${new Date(now.getTime() + RETRY_WINDOW_SECONDS * 1000)}, delivered_at = NULL
        WHERE id = ${id}::uuid
          AND (status = 'dead' OR (status = 'delivered' AND stream = 'events'))
          AND (stream = 'events' OR secret IS NOT NULL)
        RETURNING id`);
      return rows.length === 1;
    },
    async backlog() {
      // Through outbox_events_claim_idx (attempts >= 0, its predicate): the backlog only.
      const [row] = await db.query<{ pending: number; oldest: Date | null }>(Prisma.sql`
        SELECT count(*)::int AS pending, min(created_at) AS oldest FROM outbox_events
        WHERE status = 'pending' AND attempts >= 0`);
      return { pending: row?.pending ?? 0, oldestCreatedAt: row?.oldest ?? null };
    },
    async purge(before) {
      const [row] = await db.query<{ count: number }>(Prisma.sql`
        WITH delivered AS (
          DELETE FROM outbox_events WHERE status = 'delivered' AND delivered_at < ${before} RETURNING 1
        ), expired AS (
          DELETE FROM revert_tokens WHERE expires_at < ${before} RETURNING 1
        ), erased AS (
          -- A dead notice keeps its token for redelivery only while the token can still be used.
          UPDATE outbox_events SET secret = NULL
          WHERE stream = 'notices' AND secret IS NOT NULL AND (payload->>'expires_at')::timestamptz < ${before}
          RETURNING 1
        )
        SELECT ((SELECT count(*) FROM delivered) + (SELECT count(*) FROM expired))::int AS count`);
      return row?.count ?? 0;
    },
  };
}
