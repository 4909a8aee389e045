-- One row per counted OTP send and limit key (target, client, IP); limits count the rows inside their window.
CREATE TABLE "rate_limit_events" (
    "id" BIGSERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "rate_limit_events_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "rate_limit_events_key_created_at_idx" ON "rate_limit_events"("key", "created_at");
CREATE INDEX "rate_limit_events_created_at_idx" ON "rate_limit_events"("created_at");
