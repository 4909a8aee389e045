-- Users: one row per subject. Email is unique case-insensitively, phone numbers exactly.
CREATE TABLE "users" (
    "sub" TEXT NOT NULL,
    "email" TEXT,
    "email_verified" BOOLEAN NOT NULL DEFAULT false,
    "phone_number" TEXT,
    "phone_number_verified" BOOLEAN NOT NULL DEFAULT false,
    "name" TEXT,
    "nickname" TEXT,
    "zoneinfo" TEXT,
    "locale" TEXT,
    "custom_attributes" JSONB NOT NULL DEFAULT '{}',
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("sub")
);
CREATE UNIQUE INDEX "users_phone_number_key" ON "users"("phone_number");
CREATE UNIQUE INDEX "users_email_lower_key" ON "users"(lower("email"));

-- OTP challenges: token and code are stored hashed only.
CREATE TABLE "otp_challenges" (
    "id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL,
    "code_hash" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "usage" TEXT NOT NULL,
    "client_id" TEXT,
    "user_sub" TEXT,
    "requester" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "code_expires_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "consumed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "otp_challenges_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "otp_challenges_token_hash_key" ON "otp_challenges"("token_hash");
CREATE INDEX "otp_challenges_requester_idx" ON "otp_challenges"("requester", "channel", "target", "usage");
CREATE INDEX "otp_challenges_expires_at_idx" ON "otp_challenges"("expires_at");

-- Registered applications and the claims each may read.
CREATE TABLE "applications" (
    "client_id" TEXT NOT NULL,
    "secret_hash" TEXT,
    "claims" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "applications_pkey" PRIMARY KEY ("client_id")
);

-- Operator-defined attributes.
CREATE TABLE "custom_attribute_definitions" (
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "pattern" TEXT,
    "writable" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "custom_attribute_definitions_pkey" PRIMARY KEY ("name"),
    CONSTRAINT "custom_attribute_definitions_type_check" CHECK ("type" IN ('string', 'number', 'boolean'))
);
