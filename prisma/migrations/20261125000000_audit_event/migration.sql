-- CreateTable
CREATE TABLE "audit_event" (
    "id" BIGSERIAL NOT NULL,
    "time" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "request_id" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "auth_user" TEXT,
    "auth_method" TEXT,
    "token_id" TEXT,
    "kube_user" TEXT,
    "kube_groups" TEXT[],
    "service_account" TEXT,
    "client_address" TEXT,
    "user_agent" TEXT,
    "verb" TEXT,
    "api_group" TEXT,
    "api_version" TEXT,
    "resource" TEXT,
    "subresource" TEXT,
    "namespace" TEXT,
    "name" TEXT,
    "path" TEXT NOT NULL,
    "query" TEXT,
    "code" INTEGER NOT NULL,
    "decision" TEXT NOT NULL,
    "reason" TEXT,
    "latency_ms" DOUBLE PRECISION NOT NULL,
    "bytes_in" BIGINT NOT NULL DEFAULT 0,
    "bytes_out" BIGINT NOT NULL DEFAULT 0,
    "stream_ms" DOUBLE PRECISION,
    "prev_hash" TEXT,
    "hash" TEXT,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "audit_event_request_id_key" ON "audit_event"("request_id");

-- CreateIndex
CREATE INDEX "audit_event_time_idx" ON "audit_event"("time");

-- CreateIndex
CREATE INDEX "audit_event_kube_user_time_idx" ON "audit_event"("kube_user", "time");

-- CreateIndex
CREATE INDEX "audit_event_namespace_time_idx" ON "audit_event"("namespace", "time");
