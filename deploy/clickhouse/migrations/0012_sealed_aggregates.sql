-- Analytics aggregates leave the click insert path: the sealer builds them.
--
-- Before, every click insert also fed seven materialized views (clicks per day, unique
-- visitors per hour and per day, and the breakdowns per hour and per day with one row per
-- click, dimension and reason), and every impression insert a daily view. They cost
-- ClickHouse most of its CPU per click (docs/performance.md, "Aggregates off the insert
-- path"). From here on a click insert feeds one view only, clicks_hourly (partner, hour,
-- verdict, source: a count, no ARRAY JOIN), and an impression insert impressions_hourly.
-- Those two stay as they are: they are the live counters of the seal check, and they still
-- answer hourly series. Conversions keep their views (the ledger writes a few rows per
-- order, not per click).
--
-- The sealer builds everything else: a closed hour from raw rows, one row per event id,
-- and an ended day from its hours' builds, under a build id (a random UInt64) that is part of each table's
-- sort key, so two builds of the same hour never sum together. A seal in analytics_seals
-- names the build it vouches for; the API reads a build only when its seal's count equals
-- the live counter (docs/analytics.md, "Exactly once").
--
-- Runs on ClickHouse 18.16 and current releases, and again after being cut short: the
-- views go with DROP TABLE IF EXISTS (18.16 drops a view that way), tables come with IF
-- NOT EXISTS, and 18.16 has no ADD COLUMN IF NOT EXISTS, so the migration runners take
-- "column with this name already exists" from the one ALTER as done.
--
-- No backfill. The old aggregate tables (clicks_daily, visitors_hourly, visitors_daily,
-- clicks_dims_hourly, clicks_dims_daily, impressions_daily) are no longer read or written
-- and may be dropped by hand. Their hours read from raw rows until the sealer's first pass
-- (which walks back its Backfill, 400 days by default) has built them again.

DROP TABLE IF EXISTS {db}.clicks_daily_mv;

DROP TABLE IF EXISTS {db}.visitors_hourly_mv;

DROP TABLE IF EXISTS {db}.visitors_daily_mv;

DROP TABLE IF EXISTS {db}.clicks_dims_hourly_mv;

DROP TABLE IF EXISTS {db}.clicks_dims_daily_mv;

DROP TABLE IF EXISTS {db}.impressions_daily_mv;

-- The build a seal vouches for; 0 for seals of tables that views feed (clicks_hourly,
-- impressions_hourly, conversions) and for seals written before this migration.
ALTER TABLE {db}.analytics_seals ADD COLUMN build UInt64;

-- ---------------------------------------------------------------- built by the sealer, hourly

-- Breakdowns of a sealed hour: one row per (dimension, value) with clicks per verdict in
-- columns. Every click yields exactly one 'source' row, which is how the sealer checks a
-- build landed once. The dimensions and verdict columns are those of the Go code that
-- builds them (clickDimsArray and event.Verdicts() in attribution/analytics); a verdict
-- added later needs its column here first.
CREATE TABLE IF NOT EXISTS {db}.clicks_dims_hourly_built (
    partner_id String,
    hour       DateTime,
    build      UInt64,
    dim        String,
    value      String,
    clicks     UInt64,
    v_valid               UInt64,
    v_bot                 UInt64,
    v_hidden_frame        UInt64,
    v_auto_redirect       UInt64,
    v_popunder            UInt64,
    v_context_ad          UInt64,
    v_datacenter          UInt64,
    v_duplicate           UInt64,
    v_rate_limited        UInt64,
    v_unknown_partner     UInt64,
    v_blocked_partner     UInt64,
    v_unconfirmed_partner UInt64,
    v_self_referral       UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, build, dim, value);

-- Distinct visitors (rfe_vid) of valid clicks of a sealed hour, as HyperLogLog sketches.
CREATE TABLE IF NOT EXISTS {db}.visitors_hourly_built (
    partner_id String,
    hour       DateTime,
    build      UInt64,
    visitors   AggregateFunction(uniqHLL12, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, build);

-- ---------------------------------------------------------------- built by the sealer, daily

CREATE TABLE IF NOT EXISTS {db}.clicks_daily_built (
    partner_id String,
    day        DateTime,
    build      UInt64,
    verdict    String,
    source     String,
    clicks     UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, build, verdict, source);

CREATE TABLE IF NOT EXISTS {db}.clicks_dims_daily_built (
    partner_id String,
    day        DateTime,
    build      UInt64,
    dim        String,
    value      String,
    clicks     UInt64,
    v_valid               UInt64,
    v_bot                 UInt64,
    v_hidden_frame        UInt64,
    v_auto_redirect       UInt64,
    v_popunder            UInt64,
    v_context_ad          UInt64,
    v_datacenter          UInt64,
    v_duplicate           UInt64,
    v_rate_limited        UInt64,
    v_unknown_partner     UInt64,
    v_blocked_partner     UInt64,
    v_unconfirmed_partner UInt64,
    v_self_referral       UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, build, dim, value);

CREATE TABLE IF NOT EXISTS {db}.visitors_daily_built (
    partner_id String,
    day        DateTime,
    build      UInt64,
    visitors   AggregateFunction(uniqHLL12, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, build);

CREATE TABLE IF NOT EXISTS {db}.impressions_daily_built (
    partner_id  String,
    day         DateTime,
    build       UInt64,
    source      String,
    creative    String,
    size        String,
    impressions UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, build, source, creative, size);
