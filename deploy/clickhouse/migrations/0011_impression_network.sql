-- Each impression's network: the country (ISO 3166-1 alpha-2) and the autonomous system
-- number of the viewer's address, as the widget or banner edge looked them up ('' and 0
-- when no database was loaded or the address is in none). The address itself is never
-- stored.
-- Runs on ClickHouse 18.16 and current releases: one column per ALTER (18.16 has no
-- ADD COLUMN IF NOT EXISTS; the migration runners take "column with this name already
-- exists" as done, so a run cut short can be repeated). Rows written before get the
-- defaults.

ALTER TABLE {db}.impressions ADD COLUMN country String;

ALTER TABLE {db}.impressions ADD COLUMN asn UInt32;
