-- One row per Idempotency-Key (SPEC 5.2), scoped by route or mutation and caller. While the first request runs the
-- row is "processing" with a short lease; then it holds the kept answer until it expires.
CREATE TABLE "idempotency_keys" (
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "owner" UUID NOT NULL,
    "status" INTEGER,
    "headers" JSONB,
    "body" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("scope", "key")
);
CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys"("expires_at");
