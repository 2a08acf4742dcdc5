-- CreateIndex
CREATE INDEX "downlinks_state_created_at_idx" ON "downlinks"("state", "created_at");
