-- Payload codecs (SPEC §9) and their assignment to devices.
CREATE TABLE "codecs" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "script" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "encodes" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "codecs_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "devices" ADD COLUMN "codec_id" TEXT, ADD COLUMN "codec_overrides" BOOLEAN;

ALTER TABLE "devices" ADD CONSTRAINT "devices_codec_id_fkey" FOREIGN KEY ("codec_id") REFERENCES "codecs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE INDEX "devices_updated_at_idx" ON "devices"("updated_at");
