-- Partner analytics: per-hour and per-day aggregates fed by materialized views, and the
-- seals that say which of them are exact. Runs on ClickHouse 18.16 and current releases (no
-- LowCardinality, no TTL, no SimpleAggregateFunction, sumMap only with numeric keys).
--
-- Why seals: the raw tables are ReplacingMergeTree, so a batch the writer retries after an
-- ambiguous failure lands twice until parts merge, and an insert-time view adds it twice
-- for good. The API therefore reads a partner's day (or hour) from an aggregate only when
-- the aggregate's row count for it equals the distinct-id count a sealer measured on the
-- raw table (analytics_seals, per hour); everything else (the hot tail, late arrivals, an
-- hour a retry duplicated) is read a tier finer, down to raw rows with one row per id.
-- See docs/analytics.md.
--
-- Hours and days are UTC (toStartOfHour/toStartOfDay(ts, 'UTC')) whatever the server's
-- time zone. Daily tables keep dashboards over long ranges cheap: a month is 30 rows per
-- key instead of 720.

-- ---------------------------------------------------------------- hourly

-- Clicks per partner, hour, verdict and source.
CREATE TABLE IF NOT EXISTS {db}.clicks_hourly (
    partner_id String,
    hour       DateTime,
    verdict    String,
    source     String,
    clicks     UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, verdict, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_hourly_mv TO {db}.clicks_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, verdict, source, count() AS clicks
FROM {db}.clicks
GROUP BY partner_id, hour, verdict, source;

-- Distinct visitors (rfe_vid) of valid clicks per partner and hour, as HyperLogLog sketches:
-- duplicated rows cannot inflate them, so every hour reads them, and merging fixed-size
-- sketches is cheap (a few percent error).
CREATE TABLE IF NOT EXISTS {db}.visitors_hourly (
    partner_id String,
    hour       DateTime,
    visitors   AggregateFunction(uniqHLL12, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.visitors_hourly_mv TO {db}.visitors_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, uniqHLL12State(visitor_id) AS visitors
FROM {db}.clicks
WHERE verdict = 'valid'
GROUP BY partner_id, hour;

-- Breakdowns: one row per (dimension, value) with clicks per verdict in columns (a verdict
-- added later counts in clicks only until it gets a column). Every click yields exactly one
-- 'source' row (the API checks this table with it), plus creative, sub_id, referer_host,
-- device, browser, widget or banner (by source), and one row per reason.
CREATE TABLE IF NOT EXISTS {db}.clicks_dims_hourly (
    partner_id String,
    hour       DateTime,
    dim        String,
    value      String,
    clicks     UInt64,
    v_valid            UInt64,
    v_bot              UInt64,
    v_hidden_frame     UInt64,
    v_auto_redirect    UInt64,
    v_popunder         UInt64,
    v_context_ad       UInt64,
    v_duplicate        UInt64,
    v_rate_limited     UInt64,
    v_unknown_partner  UInt64,
    v_blocked_partner  UInt64,
    v_self_referral    UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, dim, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_dims_hourly_mv TO {db}.clicks_dims_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, d.1 AS dim, d.2 AS value, count() AS clicks,
       countIf(verdict = 'valid') AS v_valid,
       countIf(verdict = 'bot') AS v_bot,
       countIf(verdict = 'hidden_frame') AS v_hidden_frame,
       countIf(verdict = 'auto_redirect') AS v_auto_redirect,
       countIf(verdict = 'popunder') AS v_popunder,
       countIf(verdict = 'context_ad') AS v_context_ad,
       countIf(verdict = 'duplicate') AS v_duplicate,
       countIf(verdict = 'rate_limited') AS v_rate_limited,
       countIf(verdict = 'unknown_partner') AS v_unknown_partner,
       countIf(verdict = 'blocked_partner') AS v_blocked_partner,
       countIf(verdict = 'self_referral') AS v_self_referral
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, hour, dim, value;

-- Impressions per partner, hour, source, creative and size.
CREATE TABLE IF NOT EXISTS {db}.impressions_hourly (
    partner_id  String,
    hour        DateTime,
    source      String,
    creative    String,
    size        String,
    impressions UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (partner_id, hour, source, creative, size);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.impressions_hourly_mv TO {db}.impressions_hourly AS
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, source, creative, size, count() AS impressions
FROM {db}.impressions
GROUP BY partner_id, hour, source, creative, size;

-- Conversions (signups, activations, detachments, commissions) per partner, hour, type, role
-- and currency. amount_sum is amount as stored; the API reads commission.reversed by its
-- absolute value (amount_abs), so either sign convention reads the same.
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

-- ---------------------------------------------------------------- daily

-- Clicks per partner, day, verdict and source.
CREATE TABLE IF NOT EXISTS {db}.clicks_daily (
    partner_id String,
    day        DateTime,
    verdict    String,
    source     String,
    clicks     UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, verdict, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_daily_mv TO {db}.clicks_daily AS
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, verdict, source, count() AS clicks
FROM {db}.clicks
GROUP BY partner_id, day, verdict, source;

-- Distinct visitors (rfe_vid) of valid clicks per partner and day, as HyperLogLog sketches:
-- duplicated rows cannot inflate them, so every day reads them, and merging fixed-size
-- sketches is cheap (a few percent error).
CREATE TABLE IF NOT EXISTS {db}.visitors_daily (
    partner_id String,
    day        DateTime,
    visitors   AggregateFunction(uniqHLL12, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.visitors_daily_mv TO {db}.visitors_daily AS
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, uniqHLL12State(visitor_id) AS visitors
FROM {db}.clicks
WHERE verdict = 'valid'
GROUP BY partner_id, day;

-- Breakdowns: one row per (dimension, value) with clicks per verdict in columns (a verdict
-- added later counts in clicks only until it gets a column). Every click yields exactly one
-- 'source' row (the API checks this table with it), plus creative, sub_id, referer_host,
-- device, browser, widget or banner (by source), and one row per reason.
CREATE TABLE IF NOT EXISTS {db}.clicks_dims_daily (
    partner_id String,
    day        DateTime,
    dim        String,
    value      String,
    clicks     UInt64,
    v_valid            UInt64,
    v_bot              UInt64,
    v_hidden_frame     UInt64,
    v_auto_redirect    UInt64,
    v_popunder         UInt64,
    v_context_ad       UInt64,
    v_duplicate        UInt64,
    v_rate_limited     UInt64,
    v_unknown_partner  UInt64,
    v_blocked_partner  UInt64,
    v_self_referral    UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, dim, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.clicks_dims_daily_mv TO {db}.clicks_dims_daily AS
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, d.1 AS dim, d.2 AS value, count() AS clicks,
       countIf(verdict = 'valid') AS v_valid,
       countIf(verdict = 'bot') AS v_bot,
       countIf(verdict = 'hidden_frame') AS v_hidden_frame,
       countIf(verdict = 'auto_redirect') AS v_auto_redirect,
       countIf(verdict = 'popunder') AS v_popunder,
       countIf(verdict = 'context_ad') AS v_context_ad,
       countIf(verdict = 'duplicate') AS v_duplicate,
       countIf(verdict = 'rate_limited') AS v_rate_limited,
       countIf(verdict = 'unknown_partner') AS v_unknown_partner,
       countIf(verdict = 'blocked_partner') AS v_blocked_partner,
       countIf(verdict = 'self_referral') AS v_self_referral
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, day, dim, value;

-- Impressions per partner, day, source, creative and size.
CREATE TABLE IF NOT EXISTS {db}.impressions_daily (
    partner_id  String,
    day         DateTime,
    source      String,
    creative    String,
    size        String,
    impressions UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, source, creative, size);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.impressions_daily_mv TO {db}.impressions_daily AS
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, source, creative, size, count() AS impressions
FROM {db}.impressions
GROUP BY partner_id, day, source, creative, size;

-- Conversions (signups, activations, detachments, commissions) per partner, day, type, role
-- and currency. amount_sum is amount as stored; the API reads commission.reversed by its
-- absolute value (amount_abs), so either sign convention reads the same.
CREATE TABLE IF NOT EXISTS {db}.conversions_daily (
    partner_id  String,
    day         DateTime,
    type        String,
    role        String,
    currency    String,
    events      UInt64,
    amount_sum  Int64,
    amount_abs  Int64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, type, role, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.conversions_daily_mv TO {db}.conversions_daily AS
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, type, role, currency,
       count() AS events, sum(amount) AS amount_sum, toInt64(sum(abs(amount))) AS amount_abs
FROM {db}.conversions
GROUP BY partner_id, day, type, role, currency;

-- ---------------------------------------------------------------- referrals

-- "My referrals": each referral's lifecycle (first registration, activation and end, and
-- whether it detached or expired; any conversion of the user makes it a row) and its
-- commissions. min, max and a set ignore
-- duplicated rows, so the list reads these tables without seals. A missing event reads as
-- the largest DateTime (2106).
CREATE TABLE IF NOT EXISTS {db}.referrals (
    partner_id String,
    user_id    String,
    registered AggregateFunction(min, DateTime),
    activated  AggregateFunction(min, DateTime),
    ended      AggregateFunction(min, DateTime),
    detached   AggregateFunction(max, UInt8),
    expired    AggregateFunction(max, UInt8)
) ENGINE = AggregatingMergeTree()
ORDER BY (partner_id, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.referrals_mv TO {db}.referrals AS
SELECT partner_id, user_id,
       minState(if(type = 'attribution.attributed', ts, toDateTime(4294967295))) AS registered,
       minState(if(type = 'attribution.activated', ts, toDateTime(4294967295))) AS activated,
       minState(if(type IN ('attribution.detached', 'attribution.expired'), ts, toDateTime(4294967295))) AS ended,
       maxState(toUInt8(type = 'attribution.detached')) AS detached,
       maxState(toUInt8(type = 'attribution.expired')) AS expired
FROM {db}.conversions
WHERE user_id != ''
GROUP BY partner_id, user_id;

-- Each referral's commissions as a set of (type, identity, currency, amount, order): a
-- commission written twice, or re-emitted under a new event id with the same key, is one
-- element.
CREATE TABLE IF NOT EXISTS {db}.referral_commissions (
    partner_id  String,
    user_id     String,
    commissions AggregateFunction(groupUniqArray, Tuple(String, String, String, Int64, String))
) ENGINE = AggregatingMergeTree()
ORDER BY (partner_id, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.referral_commissions_mv TO {db}.referral_commissions AS
SELECT partner_id, user_id,
       groupUniqArrayState((type, if(idempotency_key = '', event_id, idempotency_key), currency, amount, order_id)) AS commissions
FROM {db}.conversions
WHERE user_id != '' AND type IN ('commission.accrued', 'commission.reversed')
GROUP BY partner_id, user_id;

-- ---------------------------------------------------------------- seals

-- Seals: exact = distinct ids (click_id, impression_id, or the conversion's type and
-- idempotency key) of one partner's hour when the sealer measured it; rows = the hourly
-- aggregate's row count it saw then (so it does not measure an unchanged hour again).
-- Several sealers may write the same hour: every exact value is a true count at some
-- instant and counts only grow, so the API reads the largest.
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

-- ---------------------------------------------------------------- backfill

-- Rows that existed before this migration. A row inserted between a view's creation and
-- its backfill lands twice in that aggregate; the seal check then reads its hour a tier
-- finer, so figures stay exact. On a large existing table run these per month by hand
-- instead (docs/analytics.md): one statement over everything may exceed the server's
-- per-query memory limit.

INSERT INTO {db}.clicks_hourly (partner_id, hour, verdict, source, clicks)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, verdict, source, count() AS clicks
FROM {db}.clicks
GROUP BY partner_id, hour, verdict, source;

INSERT INTO {db}.visitors_hourly (partner_id, hour, visitors)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, uniqHLL12State(visitor_id) AS visitors
FROM {db}.clicks
WHERE verdict = 'valid'
GROUP BY partner_id, hour;

INSERT INTO {db}.clicks_dims_hourly (partner_id, hour, dim, value, clicks, v_valid, v_bot, v_hidden_frame, v_auto_redirect, v_popunder, v_context_ad, v_duplicate, v_rate_limited, v_unknown_partner, v_blocked_partner, v_self_referral)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, d.1 AS dim, d.2 AS value, count() AS clicks,
       countIf(verdict = 'valid') AS v_valid,
       countIf(verdict = 'bot') AS v_bot,
       countIf(verdict = 'hidden_frame') AS v_hidden_frame,
       countIf(verdict = 'auto_redirect') AS v_auto_redirect,
       countIf(verdict = 'popunder') AS v_popunder,
       countIf(verdict = 'context_ad') AS v_context_ad,
       countIf(verdict = 'duplicate') AS v_duplicate,
       countIf(verdict = 'rate_limited') AS v_rate_limited,
       countIf(verdict = 'unknown_partner') AS v_unknown_partner,
       countIf(verdict = 'blocked_partner') AS v_blocked_partner,
       countIf(verdict = 'self_referral') AS v_self_referral
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, hour, dim, value;

INSERT INTO {db}.impressions_hourly (partner_id, hour, source, creative, size, impressions)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, source, creative, size, count() AS impressions
FROM {db}.impressions
GROUP BY partner_id, hour, source, creative, size;

INSERT INTO {db}.conversions_hourly (partner_id, hour, type, role, currency, events, amount_sum, amount_abs)
SELECT partner_id, toStartOfHour(ts, 'UTC') AS hour, type, role, currency,
       count() AS events, sum(amount) AS amount_sum, toInt64(sum(abs(amount))) AS amount_abs
FROM {db}.conversions
GROUP BY partner_id, hour, type, role, currency;

INSERT INTO {db}.clicks_daily (partner_id, day, verdict, source, clicks)
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, verdict, source, count() AS clicks
FROM {db}.clicks
GROUP BY partner_id, day, verdict, source;

INSERT INTO {db}.visitors_daily (partner_id, day, visitors)
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, uniqHLL12State(visitor_id) AS visitors
FROM {db}.clicks
WHERE verdict = 'valid'
GROUP BY partner_id, day;

INSERT INTO {db}.clicks_dims_daily (partner_id, day, dim, value, clicks, v_valid, v_bot, v_hidden_frame, v_auto_redirect, v_popunder, v_context_ad, v_duplicate, v_rate_limited, v_unknown_partner, v_blocked_partner, v_self_referral)
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, d.1 AS dim, d.2 AS value, count() AS clicks,
       countIf(verdict = 'valid') AS v_valid,
       countIf(verdict = 'bot') AS v_bot,
       countIf(verdict = 'hidden_frame') AS v_hidden_frame,
       countIf(verdict = 'auto_redirect') AS v_auto_redirect,
       countIf(verdict = 'popunder') AS v_popunder,
       countIf(verdict = 'context_ad') AS v_context_ad,
       countIf(verdict = 'duplicate') AS v_duplicate,
       countIf(verdict = 'rate_limited') AS v_rate_limited,
       countIf(verdict = 'unknown_partner') AS v_unknown_partner,
       countIf(verdict = 'blocked_partner') AS v_blocked_partner,
       countIf(verdict = 'self_referral') AS v_self_referral
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser)],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, day, dim, value;

INSERT INTO {db}.impressions_daily (partner_id, day, source, creative, size, impressions)
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, source, creative, size, count() AS impressions
FROM {db}.impressions
GROUP BY partner_id, day, source, creative, size;

INSERT INTO {db}.conversions_daily (partner_id, day, type, role, currency, events, amount_sum, amount_abs)
SELECT partner_id, toStartOfDay(ts, 'UTC') AS day, type, role, currency,
       count() AS events, sum(amount) AS amount_sum, toInt64(sum(abs(amount))) AS amount_abs
FROM {db}.conversions
GROUP BY partner_id, day, type, role, currency;

INSERT INTO {db}.referrals (partner_id, user_id, registered, activated, ended, detached, expired)
SELECT partner_id, user_id,
       minState(if(type = 'attribution.attributed', ts, toDateTime(4294967295))) AS registered,
       minState(if(type = 'attribution.activated', ts, toDateTime(4294967295))) AS activated,
       minState(if(type IN ('attribution.detached', 'attribution.expired'), ts, toDateTime(4294967295))) AS ended,
       maxState(toUInt8(type = 'attribution.detached')) AS detached,
       maxState(toUInt8(type = 'attribution.expired')) AS expired
FROM {db}.conversions
WHERE user_id != ''
GROUP BY partner_id, user_id;

INSERT INTO {db}.referral_commissions (partner_id, user_id, commissions)
SELECT partner_id, user_id,
       groupUniqArrayState((type, if(idempotency_key = '', event_id, idempotency_key), currency, amount, order_id)) AS commissions
FROM {db}.conversions
WHERE user_id != '' AND type IN ('commission.accrued', 'commission.reversed')
GROUP BY partner_id, user_id;
