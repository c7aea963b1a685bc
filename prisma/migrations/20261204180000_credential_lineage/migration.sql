-- Child credentials end with their parent (issue #17, finding 5): a personal token remembers the
-- token or browser session that created it, so revoking the token or logging the session out
-- revokes every token below it.
ALTER TABLE "personal_token" ADD COLUMN "parent_token_id" TEXT;
ALTER TABLE "personal_token" ADD COLUMN "parent_session" TEXT;
CREATE INDEX "personal_token_parent_token_id_idx" ON "personal_token"("parent_token_id");
CREATE INDEX "personal_token_parent_session_idx" ON "personal_token"("parent_session");

-- ID tokens of logged-out sessions: logout hands the ID token to the provider in the redirect
-- URL (id_token_hint), so it must stop working as a bearer token. Kept until the token expires.
CREATE TABLE "revoked_id_token" (
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revoked_id_token_pkey" PRIMARY KEY ("token_hash")
);
CREATE INDEX "revoked_id_token_expires_at_idx" ON "revoked_id_token"("expires_at");
