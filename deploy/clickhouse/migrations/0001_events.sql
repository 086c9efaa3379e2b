-- Raw events. Runs on ClickHouse 18.16 and current releases: plain String columns (no
-- LowCardinality), DateTime (no DateTime64), custom partitioning by month.
-- ReplacingMergeTree collapses a row written twice by an at-least-once retry once parts
-- merge; analytics queries that must be exact count distinct ids.
CREATE TABLE IF NOT EXISTS {db}.clicks (
    click_id     String,
    ts           DateTime,
    partner_id   String,
    verdict      String,
    reasons      Array(String),
    source       String,
    creative     String,
    sub_id       String,
    visitor_id   String,
    visitor_hash String,
    referer_host String,
    path         String,
    query        String,
    device       String,
    browser      String,
    user_agent   String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, ts, click_id);

CREATE TABLE IF NOT EXISTS {db}.impressions (
    impression_id String,
    ts            DateTime,
    partner_id    String,
    source        String,
    creative      String,
    size          String,
    render_id     String,
    visitor_id    String,
    visitor_hash  String,
    referer_host  String,
    device        String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, ts, impression_id);

CREATE TABLE IF NOT EXISTS {db}.conversions (
    event_id         String,
    ts               DateTime,
    type             String,
    partner_id       String,
    user_id          String,
    click_id         String,
    order_id         String,
    role             String,
    idempotency_key  String,
    base_amount      Int64,
    rate_bp          UInt32,
    amount           Int64,
    currency         String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, ts, event_id);
