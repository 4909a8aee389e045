-- The dispatcher claims the first due heads of the backlog in `seq` order. Without an index in that order over the
-- pending rows alone, its claim walked `outbox_events_seq_key` past every delivered row still kept: 6.5 ms per claim
-- with 50,000 delivered rows, growing with them, until under sustained writes the backlog grew without end (1,280
-- events/s at most with 64 per round; ~300/s measured). This index holds only the backlog, in the claim's order
-- (0.4 ms for the same claim). It replaces the one on `next_attempt_at`, so a write still updates as many indexes;
-- the claim filters on `next_attempt_at` as it walks, and the pending count and oldest pending row read this one.
DROP INDEX "outbox_events_pending_idx";
CREATE INDEX "outbox_events_pending_seq_idx" ON "outbox_events"("seq") WHERE "status" = 'pending';
