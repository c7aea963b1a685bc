-- Audit trail: event kind and transport, the per-instance hash chain position, and indexes for
-- the /kgw/v1/audit filters (user and decision; time, kube_user and namespace exist already).

-- AlterTable
ALTER TABLE "audit_event" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'request',
ADD COLUMN "transport" TEXT,
ADD COLUMN "seq" BIGINT;

-- CreateIndex
CREATE UNIQUE INDEX "audit_event_instance_seq_key" ON "audit_event"("instance", "seq");

-- CreateIndex
CREATE INDEX "audit_event_auth_user_time_idx" ON "audit_event"("auth_user", "time");

-- CreateIndex
CREATE INDEX "audit_event_decision_time_idx" ON "audit_event"("decision", "time");
