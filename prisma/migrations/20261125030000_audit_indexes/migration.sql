-- Audit writer throughput: every audit_event insert maintains each index, and the five
-- secondary B-trees cost about as much as the heap insert itself. Two of them get cheaper
-- forms that still serve the /kgw/v1/audit filters and retention:
--
-- time: rows arrive in (nearly) time order, so a BRIN index answers `since`/`until` ranges and
-- retention's `time < cutoff` at a fraction of a B-tree's per-insert cost and size.
DROP INDEX "audit_event_time_idx";
CREATE INDEX "audit_event_time_idx" ON "audit_event" USING BRIN ("time");

-- decision: almost every row is 'allow', which an index cannot narrow anyway; the rare
-- deny/error/unauthenticated rows, which an index exists to find, stay indexed, and 'allow'
-- rows skip this index entirely.
DROP INDEX "audit_event_decision_time_idx";
CREATE INDEX "audit_event_decision_time_idx" ON "audit_event"("decision", "time") WHERE "decision" <> 'allow';
