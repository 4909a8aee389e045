-- A probe for the pending rows of one user (the dispatcher's "is this row its user's first pending one?", a write's
-- "when is this user's last pending row due?") must read `outbox_events_pending_sub_idx`, which holds them together.
-- With statistics taken while nothing was pending (autovacuum's often are: a backlog builds up within seconds), every
-- index that can answer "status = 'pending'" looks as cheap to PostgreSQL, and its generic plan read the probe from the
-- index of the claim's walk (every pending row before the candidate, in `seq` order) or from the one on (status,
-- created_at) (every pending row): the claim then cost 260-350 ms per round on the embedded server, and with the
-- backlog it let grow, writes fell from ~1,700 to 164 requests/s within a few minutes of a bench run. Each of those two
-- indexes now has a predicate that only its own queries state, so that the probes have one index to choose from:
-- - the claim's walk: pending rows in `seq` order, where the claim also states `attempts >= 0` (always true);
-- - (status, created_at): the rows no longer pending (delivered or dead), for listing and purging them.
-- The old indexes go once the new ones exist; a deployment with many rows kept can build the new ones beforehand
-- (CREATE INDEX CONCURRENTLY with the same definitions), and this migration then keeps them.
CREATE INDEX IF NOT EXISTS "outbox_events_claim_idx" ON "outbox_events"("seq") WHERE "status" = 'pending' AND "attempts" >= 0;
DROP INDEX IF EXISTS "outbox_events_pending_seq_idx";
CREATE INDEX IF NOT EXISTS "outbox_events_settled_idx" ON "outbox_events"("status", "created_at") WHERE "status" <> 'pending';
DROP INDEX IF EXISTS "outbox_events_status_created_at_idx";
