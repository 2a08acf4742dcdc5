-- Every second the ingest path writes the last-seen state of each device it heard from. With
-- last_seen_at indexed, each such write was a new row version in every index of devices (31 ms
-- of Postgres a second at 1,000 devices). Unindexed, with room left on each page, it is a HOT
-- update in place. `seenBefore` and the silent-devices gauge filter devices without it.
DROP INDEX "devices_last_seen_at_idx";
ALTER TABLE "devices" SET (fillfactor = 70);
