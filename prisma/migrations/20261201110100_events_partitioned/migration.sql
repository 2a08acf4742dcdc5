-- events becomes partitioned by `time`, one partition per ISO week (Monday 00:00 UTC), so that
-- retention drops whole weeks instead of deleting rows. The existing rows are copied into their
-- weeks, once, at the upgrade: it takes as long as copying the table.
-- A unique key must include the partition key, hence the primary key (id, time); event identity
-- lives in event_identities (which records event_time, so a merge finds its partition directly).

ALTER TABLE "events" RENAME TO "events_unpartitioned";
ALTER TABLE "events_unpartitioned" RENAME CONSTRAINT "events_pkey" TO "events_unpartitioned_pkey";
ALTER TABLE "events_unpartitioned" RENAME CONSTRAINT "events_device_id_fkey" TO "events_unpartitioned_device_id_fkey";
ALTER INDEX "events_device_id_id_idx" RENAME TO "events_unpartitioned_device_id_id_idx";
ALTER INDEX "events_unpublished_idx" RENAME TO "events_unpartitioned_unpublished_idx";

CREATE TABLE "events" (
    LIKE "events_unpartitioned" INCLUDING DEFAULTS,
    CONSTRAINT "events_pkey" PRIMARY KEY ("id", "time")
) PARTITION BY RANGE ("time");

-- Created on every partition: history by device newest first, and the fan-out outbox.
CREATE INDEX "events_device_id_id_idx" ON "events"("device_id", "id" DESC);
CREATE INDEX "events_unpublished_idx" ON "events"("received_at") WHERE "published_at" IS NULL;
ALTER TABLE "events" ADD CONSTRAINT "events_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "devices"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Rows of no week partition (a network clock far off, a week not created yet) go here, so that
-- no insert ever fails; creating a week moves its rows out of it.
CREATE TABLE "events_default" PARTITION OF "events" DEFAULT;

-- Creates the partition of `parent` (partitioned by `key`) for the week holding `at`
-- (<parent>_wYYYYMMDD, its Monday), moving into it the rows that <parent>_default holds for that
-- week. Used by the migrations and by the worker. ATTACH takes only a SHARE UPDATE EXCLUSIVE lock
-- on the parent, so inserts and reads go on; the default partition is locked while it is checked.
CREATE FUNCTION "create_week_partition"("parent" TEXT, "key" TEXT, "at" TIMESTAMPTZ) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
  week_start TIMESTAMPTZ := date_trunc('week', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  week_end TIMESTAMPTZ := week_start + INTERVAL '7 days';
  partition_name TEXT := "parent" || '_w' || to_char(week_start AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
  -- Serializes partition changes of every instance, until this transaction ends.
  PERFORM pg_advisory_xact_lock(72707370);
  IF to_regclass(format('%I', partition_name)) IS NOT NULL THEN
    RETURN FALSE;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', partition_name, "parent");
  EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                 "parent" || '_default', "key", week_start, "key", week_end, partition_name);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', "parent", partition_name, week_start, week_end);
  RETURN TRUE;
END $$;

-- A partition for every week that has events, and for this week and the next four.
SELECT "create_week_partition"('events', 'time', week)
FROM (
  SELECT DISTINCT date_trunc('week', "time" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS week FROM "events_unpartitioned"
  UNION
  SELECT now() + n * INTERVAL '7 days' FROM generate_series(0, 4) n
) weeks
ORDER BY week;

INSERT INTO "events" SELECT * FROM "events_unpartitioned";
DROP TABLE "events_unpartitioned";
