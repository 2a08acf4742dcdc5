-- A device's latest radio link and battery, kept by the ingest path (coalesced, not per event).
ALTER TABLE "devices" ADD COLUMN "last_uplink" JSONB;
ALTER TABLE "devices" ADD COLUMN "battery" JSONB;

-- GET /api/devices?seenBefore= and the silent-devices gauge.
CREATE INDEX "devices_last_seen_at_idx" ON "devices"("last_seen_at");
