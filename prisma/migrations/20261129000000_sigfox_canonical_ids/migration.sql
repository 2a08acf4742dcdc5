-- From this version a Sigfox device's externalId has no leading zeros ("002C" -> "2C"), whatever
-- padding Sigfox or the user wrote it with. Devices stored padded are renamed, with their events.
-- Where the canonical name is already taken (the device arrived both ways), the padded row is left
-- as it is: its history stays readable, and new events go to the canonical device.
WITH padded AS (
  SELECT d.id, d.connection_id, d.external_id, regexp_replace(d.external_id, '^0+(?=.)', '') AS canonical
  FROM "devices" d
  JOIN "connections" c ON c.id = d.connection_id AND c.network = 'sigfox'
  WHERE d.external_id ~ '^0[0-9A-F]+$'
),
renamed AS (
  -- One row per canonical name: "0002C" and "002C" cannot both become "2C".
  SELECT DISTINCT ON (p.connection_id, p.canonical) p.id, p.canonical
  FROM padded p
  WHERE NOT EXISTS (SELECT 1 FROM "devices" o WHERE o.connection_id = p.connection_id AND o.external_id = p.canonical)
  ORDER BY p.connection_id, p.canonical, p.id
),
moved AS (
  UPDATE "devices" SET external_id = renamed.canonical, updated_at = CURRENT_TIMESTAMP
  FROM renamed WHERE "devices".id = renamed.id
  RETURNING "devices".id, "devices".external_id
)
UPDATE "events" e
SET external_id = moved.external_id,
    body = jsonb_set(e.body, '{device,externalId}', to_jsonb(moved.external_id))
FROM moved
WHERE e.device_id = moved.id;
