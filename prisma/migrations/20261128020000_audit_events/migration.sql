-- One row per profile change: who, from which application, which attributes, when. Email and phone values masked.
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "sub" TEXT NOT NULL,
    "client_id" TEXT,
    "attributes" TEXT[] NOT NULL,
    "changes" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "audit_events_sub_created_at_idx" ON "audit_events"("sub", "created_at");
