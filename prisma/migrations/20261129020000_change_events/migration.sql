-- The transactional outbox (SPEC 5.4): each row is written by the statement of the change it reports, and delivered
-- afterwards by every gateway process. `stream` orders delivery: a user's rows of one stream go out in `seq` order.
--   events:  `user.updated` events to EVENTS_WEBHOOK_URL (Standard Webhooks); `payload` is the exact body.
--   notices: `identifier_changed` notices to the previous address through the OTP delivery channels; `secret` holds
--            the revert token until the notice is delivered (then NULL); its SHA-256 is in revert_tokens.
CREATE TABLE "outbox_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq" BIGSERIAL NOT NULL,
    "stream" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "payload" JSONB NOT NULL,
    "secret" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL,
    "retry_until" TIMESTAMPTZ(3) NOT NULL,
    "leased_until" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "delivered_at" TIMESTAMPTZ(3),
    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "outbox_events_status_check" CHECK ("status" IN ('pending', 'delivered', 'dead'))
);
CREATE UNIQUE INDEX "outbox_events_seq_key" ON "outbox_events"("seq");
-- What the dispatcher scans: pending rows only, so the index stays as small as the backlog.
CREATE INDEX "outbox_events_pending_idx" ON "outbox_events"("next_attempt_at") WHERE "status" = 'pending';
CREATE INDEX "outbox_events_pending_sub_idx" ON "outbox_events"("stream", "sub", "seq") WHERE "status" = 'pending';
CREATE INDEX "outbox_events_status_created_at_idx" ON "outbox_events"("status", "created_at");

-- One revert link per replaced email / phone number. The token itself is never stored, only its SHA-256.
CREATE TABLE "revert_tokens" (
    "token_hash" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "attribute" TEXT NOT NULL,
    "previous_value" TEXT NOT NULL,
    "new_value_masked" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "revert_tokens_pkey" PRIMARY KEY ("token_hash")
);
CREATE INDEX "revert_tokens_sub_attribute_idx" ON "revert_tokens"("sub", "attribute", "created_at");
CREATE INDEX "revert_tokens_expires_at_idx" ON "revert_tokens"("expires_at");
