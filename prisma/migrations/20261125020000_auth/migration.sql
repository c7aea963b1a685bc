-- Authentication state: personal access tokens, browser sessions, login transactions and
-- CLI login grants. Secrets are stored only as SHA-256 digests, except the provider's own
-- ID and refresh tokens of a session (needed to refresh and to log out at the provider).

-- CreateTable
CREATE TABLE "personal_token" (
    "id" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "owner_name" TEXT NOT NULL,
    "owner_uid" TEXT,
    "owner_groups" TEXT[],
    "created_via" TEXT NOT NULL,
    "read_only" BOOLEAN NOT NULL DEFAULT false,
    "namespaces" TEXT[],
    "forward" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "last_used_at" TIMESTAMPTZ(3),
    "last_used_address" TEXT,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "personal_token_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "browser_session" (
    "id_hash" TEXT NOT NULL,
    "user_name" TEXT NOT NULL,
    "uid" TEXT,
    "groups" TEXT[],
    "claims" JSONB NOT NULL,
    "issuer" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "csrf_token" TEXT NOT NULL,
    "id_token" TEXT,
    "refresh_token" TEXT,
    "refresh_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "browser_session_pkey" PRIMARY KEY ("id_hash")
);

-- CreateTable
CREATE TABLE "login_transaction" (
    "id_hash" TEXT NOT NULL,
    "data" JSONB NOT NULL,
    "return_to" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "login_transaction_pkey" PRIMARY KEY ("id_hash")
);

-- CreateTable
CREATE TABLE "cli_login_grant" (
    "code_hash" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "user_code" TEXT,
    "code_challenge" TEXT,
    "redirect_uri" TEXT,
    "client_name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "approver_name" TEXT,
    "approver_uid" TEXT,
    "approver_groups" TEXT[],
    "token_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "last_polled_at" TIMESTAMPTZ(3),

    CONSTRAINT "cli_login_grant_pkey" PRIMARY KEY ("code_hash")
);

-- CreateIndex
CREATE UNIQUE INDEX "personal_token_token_hash_key" ON "personal_token"("token_hash");

-- CreateIndex
CREATE INDEX "personal_token_owner_name_idx" ON "personal_token"("owner_name");

-- CreateIndex
CREATE INDEX "browser_session_expires_at_idx" ON "browser_session"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "cli_login_grant_user_code_key" ON "cli_login_grant"("user_code");
