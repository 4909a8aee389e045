-- The outbox is read two ways: the dispatcher's claim walks the pending rows in `seq` order, and the probes of one
-- user's pending rows (the claim's "is this row its user's first pending one?", a write's "when is this user's last
-- pending row due?", a retry's "which rows wait behind this one?") look them up by user. With statistics taken while
-- nothing was pending (autovacuum's often are: a backlog builds up within seconds), every index that can tell pending
-- rows looks as cheap to PostgreSQL, and its generic plans read a probe from the claim's index (every pending row
-- before the candidate) or from the one on (status, created_at) (every pending row), or walked the claim through the
-- by-user index and a sort of the whole backlog. On the embedded server the claim then took 260-350 ms per round and,
-- with the backlog it let grow, writes fell from ~1,700 to 164 requests/s within a few minutes of a bench run.
-- So each index now has a predicate that only its own queries state, and each query has one index to read:
-- - the claim's walk: pending rows in `seq` order, where the claim also states `attempts >= 0` (always true);
-- - the probes: pending rows by user, where they also state `version >= 0` (always true);
-- - listing and purging: the rows no longer pending (delivered or dead), by status and creation time.
-- The old indexes go once the new ones exist. A deployment with many rows kept can build the new ones beforehand
-- (CREATE INDEX CONCURRENTLY with the same definitions), and this migration then keeps them.
CREATE INDEX IF NOT EXISTS "outbox_events_claim_idx" ON "outbox_events"("seq") WHERE "status" = 'pending' AND "attempts" >= 0;
DROP INDEX IF EXISTS "outbox_events_pending_seq_idx";
CREATE INDEX IF NOT EXISTS "outbox_events_probe_idx" ON "outbox_events"("stream", "sub", "seq") WHERE "status" = 'pending' AND "version" >= 0;
DROP INDEX IF EXISTS "outbox_events_pending_sub_idx";
CREATE INDEX IF NOT EXISTS "outbox_events_settled_idx" ON "outbox_events"("status", "created_at") WHERE "status" <> 'pending';
DROP INDEX IF EXISTS "outbox_events_status_created_at_idx";
