-- ChirpStack's txack/ack/log events name a downlink by its queue item id (downlinks.network_ref).
CREATE INDEX "downlinks_connection_id_network_ref_idx" ON "downlinks"("connection_id", "network_ref");
