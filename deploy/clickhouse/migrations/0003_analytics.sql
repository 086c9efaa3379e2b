-- Partner analytics: per-hour aggregates fed by materialized views, and the seals that say
-- which aggregate hours are exact. Runs on ClickHouse 18.16 and current releases (no
-- LowCardinality, no TTL, no SimpleAggregateFunction).
--
-- Why seals: the raw tables are ReplacingMergeTree, so a batch the writer retries after an
-- ambiguous failure lands twice until parts merge, and an insert-time view adds it twice
-- for good. The API therefore reads an hour of a partner from an aggregate only when the
-- aggregate's row count for that hour equals the distinct-id count a sealer measured on
-- the raw table (analytics_seals); every other hour (the hot tail, late arrivals, an hour a
-- retry duplicated) is read from raw rows with one row per id. See docs/analytics.md.
--
-- Hours are UTC hours (toStartOfHour(ts, 'UTC')) whatever the server's time zone.

-- Clicks per partner, hour, verdict and source; unique visitors by rfe_vid. The uniq
-- state is immune to duplicated rows, so visitor counts read it for every hour.
CREATE TABLE IF NOT EXISTS {db}.clicks_hourly (
    partner_id String,
    hour       DateTime,
    verdict    String,
    source     String,
    clicks     UInt64,
    visitors   AggregateFunction(uniq, String)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, verdict, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_hourly_mv TO {db}.clicks_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, verdict, source,
       count() AS clicks, uniqState(visitor_id) AS visitors
FROM {db}.clicks
GROUP BY partner_id, hour, verdict, source;

-- Breakdowns: one row per (dimension, value, verdict). Every click yields exactly one
-- 'source' row (the API checks this table's hours with it), plus creative, sub_id,
-- referer_host, device, browser, widget or banner (by source), and one row per reason.
CREATE TABLE IF NOT EXISTS {db}.clicks_dims_hourly (
    partner_id String,
    hour       DateTime,
    dim        String,
    value      String,
    verdict    String,
    clicks     UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, dim, value, verdict);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_dims_hourly_mv TO {db}.clicks_dims_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, d.1 AS dim, d.2 AS value, verdict,
       count() AS clicks
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, hour, dim, value, verdict;

-- Impressions per partner, hour, source, creative and size.
CREATE TABLE IF NOT EXISTS {db}.impressions_hourly (
    partner_id  String,
    hour        DateTime,
    source      String,
    creative    String,
    size        String,
    impressions UInt64,
    visitors    AggregateFunction(uniq, String)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, source, creative, size);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.impressions_hourly_mv TO {db}.impressions_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, source, creative, size,
       count() AS impressions, uniqState(visitor_id) AS visitors
FROM {db}.impressions
GROUP BY partner_id, hour, source, creative, size;

-- Conversions (signups, activations, detachments, commissions) per partner, hour, type,
-- role and currency. amount_sum is amount summed as stored; the API reads commission.reversed
-- amounts by absolute value, so either sign convention reads the same.
CREATE TABLE IF NOT EXISTS {db}.conversions_hourly (
    partner_id  String,
    hour        DateTime,
    type        String,
    role        String,
    currency    String,
    events      UInt64,
    amount_sum  Int64,
    amount_abs  Int64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, type, role, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.conversions_hourly_mv TO {db}.conversions_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, type, role, currency,
       count() AS events, sum(amount) AS amount_sum, toInt64(sum(abs(amount))) AS amount_abs
FROM {db}.conversions
GROUP BY partner_id, hour, type, role, currency;

-- Seals: exact = distinct ids (click_id, impression_id, or the conversion's idempotency
-- key) of one partner's hour when the sealer measured it; rows = the aggregate's row count
-- it saw then (so it does not measure an unchanged hour again). Several sealers may write
-- the same hour: every exact value they write is a true count at some instant, which is
-- all the API's check needs.
CREATE TABLE IF NOT EXISTS {db}.analytics_seals (
    fact       String,
    partner_id String,
    hour       DateTime,
    exact      UInt64,
    rows       UInt64,
    sealed_at  DateTime
) ENGINE = ReplacingMergeTree(sealed_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, fact, hour);

-- Backfill rows that existed before this migration. A row inserted between a view's
-- creation and its backfill lands twice in that aggregate; the seal check then reads its
-- hour from raw rows, so figures stay exact.
INSERT INTO {db}.clicks_hourly (partner_id, hour, verdict, source, clicks, visitors)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, verdict, source,
       count() AS clicks, uniqState(visitor_id) AS visitors
FROM {db}.clicks
GROUP BY partner_id, hour, verdict, source;

INSERT INTO {db}.clicks_dims_hourly (partner_id, hour, dim, value, verdict, clicks)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, d.1 AS dim, d.2 AS value, verdict,
       count() AS clicks
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, hour, dim, value, verdict;

INSERT INTO {db}.impressions_hourly (partner_id, hour, source, creative, size, impressions, visitors)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, source, creative, size,
       count() AS impressions, uniqState(visitor_id) AS visitors
FROM {db}.impressions
GROUP BY partner_id, hour, source, creative, size;

INSERT INTO {db}.conversions_hourly (partner_id, hour, type, role, currency, events, amount_sum, amount_abs)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, type, role, currency,
       count() AS events, sum(amount) AS amount_sum, toInt64(sum(abs(amount))) AS amount_abs
FROM {db}.conversions
GROUP BY partner_id, hour, type, role, currency;
