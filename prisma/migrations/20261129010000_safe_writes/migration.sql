-- One row per Idempotency-Key (SPEC 5.2), scoped by route or mutation and caller. The first request claims it
-- (`status` null, held by `owner` until `lease_until`); its answer then fills the same row. `expires_at` is set once,
-- at the claim, so that keeping the answer changes no indexed column: a HOT update in the same page (fillfactor).
-- Rows arrive in time order: a BRIN index keeps the purge by `expires_at` cheap at almost no cost per insert.
CREATE TABLE "idempotency_keys" (
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "owner" UUID NOT NULL,
    "lease_until" TIMESTAMPTZ(3) NOT NULL,
    "status" INTEGER,
    "headers" JSONB,
    "body" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("scope", "key")
) WITH (fillfactor = 70);
CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys" USING BRIN ("expires_at");
