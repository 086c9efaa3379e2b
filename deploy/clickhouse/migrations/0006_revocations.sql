-- Clicks the verification beacon re-classified after the redirect (hidden frame,
-- pop-under). The original row in clicks keeps what the edge saw; analytics read the
-- final verdict as the revocation's when one exists.
CREATE TABLE IF NOT EXISTS {db}.click_revocations (
    click_id   String,
    ts         DateTime,
    click_ts   DateTime,
    partner_id String,
    verdict    String,
    reasons    Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(click_ts)
ORDER BY (partner_id, click_ts, click_id);
