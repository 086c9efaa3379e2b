-- The verdict datacenter (a click from a data centre's network, program rule 6) gets its
-- column in the clicks_dims aggregates, and their views count it and break clicks down by
-- two more dimensions: country (the ISO 3166-1 alpha-2 code, '' when unknown) and network
-- (the AS number in decimal, '0' when unknown), from the columns of 0009_click_network.sql.
-- Runs on ClickHouse 18.16 and current releases, as 0007 does: one column per ALTER (18.16
-- has no ADD COLUMN IF NOT EXISTS; the migration runners take "column with this name
-- already exists" as done, so a run cut short can be repeated), and each view is dropped
-- and created again (18.16 cannot change a view's query).
--
-- No backfill: rows written before hold no datacenter click (the verdict did not exist;
-- such clicks were bot) and no country or network row; docs/analytics.md says how the
-- API shows them. A click that reaches the raw table in the moment between a view's drop
-- and its creation is missing from that aggregate, as if the view's write had failed: the
-- seal check reads its hour from raw rows (docs/analytics.md).

ALTER TABLE {db}.clicks_dims_hourly ADD COLUMN v_datacenter UInt64;

DROP TABLE IF EXISTS {db}.clicks_dims_hourly_mv;

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
       countIf(verdict = 'self_referral') AS v_self_referral,
       countIf(verdict = 'unconfirmed_partner') AS v_unconfirmed_partner,
       countIf(verdict = 'datacenter') AS v_datacenter
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser),
     ('country', country), ('network', toString(asn))],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, hour, dim, value;

ALTER TABLE {db}.clicks_dims_daily ADD COLUMN v_datacenter UInt64;

DROP TABLE IF EXISTS {db}.clicks_dims_daily_mv;

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
       countIf(verdict = 'self_referral') AS v_self_referral,
       countIf(verdict = 'unconfirmed_partner') AS v_unconfirmed_partner,
       countIf(verdict = 'datacenter') AS v_datacenter
FROM {db}.clicks
ARRAY JOIN arrayConcat(
    [('source', source), ('creative', creative), ('sub_id', sub_id),
     ('referer_host', referer_host), ('device', device), ('browser', browser),
     ('country', country), ('network', toString(asn))],
    arrayFilter(x -> source = 'widget', [('widget', creative)]),
    arrayFilter(x -> source = 'banner', [('banner', creative)]),
    arrayMap(r -> ('reason', r), reasons)) AS d
GROUP BY partner_id, day, dim, value;
