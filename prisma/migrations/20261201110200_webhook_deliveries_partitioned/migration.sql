-- Webhook deliveries are kept as long as their events (SPEC §10): they are partitioned by their
-- event's time, in the same weeks as events, so that retention drops a week of both at once.
-- event_time is the event's `time`, the same for every try of a dispatch, so that the unique
-- (webhook, event) key stays a key of the partitioned table and dispatch stays idempotent.

ALTER TABLE "webhook_deliveries" RENAME TO "webhook_deliveries_unpartitioned";
ALTER TABLE "webhook_deliveries_unpartitioned" RENAME CONSTRAINT "webhook_deliveries_pkey" TO "webhook_deliveries_unpartitioned_pkey";
ALTER TABLE "webhook_deliveries_unpartitioned" RENAME CONSTRAINT "webhook_deliveries_webhook_id_fkey" TO "webhook_deliveries_unpartitioned_webhook_id_fkey";
ALTER INDEX "webhook_deliveries_webhook_id_event_id_key" RENAME TO "webhook_deliveries_unpartitioned_webhook_id_event_id_key";
ALTER INDEX "webhook_deliveries_webhook_id_status_id_idx" RENAME TO "webhook_deliveries_unpartitioned_webhook_id_status_id_idx";
ALTER INDEX "webhook_deliveries_status_next_attempt_at_idx" RENAME TO "webhook_deliveries_unpartitioned_status_next_attempt_at_idx";

CREATE TABLE "webhook_deliveries" (
    LIKE "webhook_deliveries_unpartitioned" INCLUDING DEFAULTS,
    "event_time" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id", "event_time")
) PARTITION BY RANGE ("event_time");

CREATE UNIQUE INDEX "webhook_deliveries_webhook_id_event_id_event_time_key" ON "webhook_deliveries"("webhook_id", "event_id", "event_time");
CREATE INDEX "webhook_deliveries_webhook_id_status_id_idx" ON "webhook_deliveries"("webhook_id", "status", "id" DESC);
CREATE INDEX "webhook_deliveries_status_next_attempt_at_idx" ON "webhook_deliveries"("status", "next_attempt_at");
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_fkey" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "webhook_deliveries_default" PARTITION OF "webhook_deliveries" DEFAULT;

-- The weeks events have.
SELECT "create_week_partition"('webhook_deliveries', 'event_time', week)
FROM (
  SELECT to_date(substr(c.relname, length('events_w') + 1), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS week
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = '"events"'::regclass AND c.relname ~ '^events_w[0-9]{8}$'
) weeks
ORDER BY week;

-- A delivery whose event is gone (its device deleted) takes its own creation time.
INSERT INTO "webhook_deliveries" ("id", "webhook_id", "event_id", "event_time", "status", "attempts", "last_status_code",
                                  "last_error", "next_attempt_at", "delivered_at", "created_at", "updated_at")
SELECT d."id", d."webhook_id", d."event_id", COALESCE(e."time", d."created_at"), d."status", d."attempts", d."last_status_code",
       d."last_error", d."next_attempt_at", d."delivered_at", d."created_at", d."updated_at"
FROM "webhook_deliveries_unpartitioned" d LEFT JOIN "events" e ON e."id" = d."event_id";
DROP TABLE "webhook_deliveries_unpartitioned";
