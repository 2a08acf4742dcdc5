-- A Helium or TTS event row (body and raw) is over 2 kB, so Postgres compresses it when it is
-- written: at every insert, and again when the fan-out stores a decoded uplink. lz4 takes less
-- CPU than the default pglz for it (~15 % of an insert's Postgres time, measured on the bench's
-- events). New values only; rows already stored keep pglz. Skipped where Postgres was built
-- without lz4.
--
-- SET COMPRESSION locks its table exclusively until this migration commits, and waits behind
-- any reader (an export's cursor), with every insert into that table queued behind it: so each
-- table is given 200 ms, the parent last (inserts go through it), and one not had keeps pglz for
-- now. At most ~2 s of held-up inserts, never a stall.
DO $$
DECLARE
  part REGCLASS;
  lock_timeout_before TEXT := current_setting('lock_timeout');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
    RETURN;
  END IF;
  PERFORM set_config('lock_timeout', '200ms', true);
  FOR part IN SELECT t FROM (SELECT inhrelid::REGCLASS AS t, 0 AS parent_last FROM pg_inherits WHERE inhparent = 'events'::REGCLASS
                            UNION ALL SELECT 'events'::REGCLASS, 1) tables ORDER BY parent_last LOOP
    BEGIN
      EXECUTE format('ALTER TABLE %s ALTER COLUMN "body" SET COMPRESSION lz4, ALTER COLUMN "raw" SET COMPRESSION lz4', part);
    EXCEPTION WHEN lock_not_available THEN
      RAISE NOTICE 'events: % keeps pglz (busy)', part;
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', lock_timeout_before, true);
END $$;

-- New week partitions take their compression from the parent.
CREATE OR REPLACE FUNCTION "create_week_partition"("parent" TEXT, "key" TEXT, "at" TIMESTAMPTZ) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
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
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING COMPRESSION)', partition_name, "parent");
  EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                 "parent" || '_default', "key", week_start, "key", week_end, partition_name);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', "parent", partition_name, week_start, week_end);
  RETURN TRUE;
END $$;
