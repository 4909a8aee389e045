-- The dispatcher claims the first due heads of the backlog in `seq` order. Without an index in that order over the
-- pending rows alone, PostgreSQL walked `outbox_events_seq_key` past every delivered row still kept (a week of them):
-- 6.5 ms per claim behind 50,000 delivered rows, growing with them, so that under sustained writes the backlog grew
-- without end (142,059 events waiting at the end of a bench run). This index holds only the backlog, in the claim's
-- order (0.4 ms for the same claim). It replaces the one on `next_attempt_at`, so that a write still updates as many
-- indexes: the claim filters on `next_attempt_at` as it walks, and the pending count and oldest pending row read this.
DROP INDEX "outbox_events_pending_idx";
CREATE INDEX "outbox_events_pending_seq_idx" ON "outbox_events"("seq") WHERE "status" = 'pending';
