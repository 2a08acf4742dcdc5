-- Event identity moves out of the events table (SPEC §4, issue 11). The unique (connection_id,
-- dedup_key) kept a key for ever, so a later transmission that repeated it (a Helium device that
-- rejoined, a TTS ABP device whose counters reset) was merged into a months-old event. It also
-- could not exist on an events table partitioned by time. An identity now lives in this small
-- table and expires; events keep dedup_key as the key they were stored under.
CREATE TABLE "event_identities" (
    "connection_id" TEXT NOT NULL,
    "identity_key" TEXT NOT NULL,
    "event_id" UUID NOT NULL,
    "event_time" TIMESTAMPTZ(3) NOT NULL,
    -- Set for keys that name a message only within a time window (Helium): a later event with the
    -- same key is a copy only when its time is this close to event_time. Null: the key names one message.
    "window_ms" INTEGER,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "event_identities_pkey" PRIMARY KEY ("connection_id", "identity_key")
);

CREATE INDEX "event_identities_expires_at_idx" ON "event_identities"("expires_at");

DROP INDEX "events_connection_id_dedup_key_key";

-- Recent events keep their identity, so that a copy arriving across the upgrade still merges.
-- TTS uplinks are now known by their as:up correlation id (webhook body or stream data alike);
-- Helium keys are unchanged but hold only within 5 minutes of reported_at.
INSERT INTO "event_identities" ("connection_id", "identity_key", "event_id", "event_time", "window_ms", "expires_at")
SELECT DISTINCT ON (connection_id, identity_key) connection_id, identity_key, id, time, window_ms, now() + interval '48 hours'
FROM (
  SELECT e.connection_id, e.id, e.time,
         CASE WHEN e.network = 'tts' AND e.type = 'uplink' THEN
                COALESCE('tts:up:' || (SELECT c FROM jsonb_array_elements_text(
                                         CASE WHEN jsonb_typeof(e.raw->'data'->'correlation_ids') = 'array' THEN e.raw->'data'->'correlation_ids'
                                              WHEN jsonb_typeof(e.raw->'correlation_ids') = 'array' THEN e.raw->'correlation_ids'
                                              ELSE '[]'::jsonb END) AS ids(c)
                                       WHERE c LIKE 'as:up:%' LIMIT 1), e.dedup_key)
              ELSE e.dedup_key END AS identity_key,
         CASE WHEN e.network = 'helium' THEN 300000 END AS window_ms
  FROM "events" e
  WHERE e.received_at > now() - interval '48 hours'
) recent
ORDER BY connection_id, identity_key, id;
