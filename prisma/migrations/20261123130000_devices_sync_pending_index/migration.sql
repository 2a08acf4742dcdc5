-- Not expressible in schema.prisma: the device-sync sweeper and the sync backlog look only at pending devices.
CREATE INDEX "devices_sync_pending_idx" ON "devices"("connection_id", "updated_at") WHERE "sync_state" = 'pending';
