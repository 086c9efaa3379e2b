-- The operators' audit trail: one row per admin call that was not a read (partner
-- status, partner API tokens and login links issued or revoked, kwork and creative
-- edits), with the credential's name (never its secret), the answer's status and the
-- target's state before and after as JSON, scrubbed of secrets. Plain MergeTree: every
-- row is kept; the console reads one partner's rows, newest first.
CREATE TABLE IF NOT EXISTS {db}.admin_audit (
    id           String,
    ts           DateTime,
    operator     String,
    role         String,
    via          String,
    method       String,
    route        String,
    path         String,
    target       String,
    partner_id   String,
    status       UInt16,
    state_before String,
    state_after  String,
    client       String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, ts, id);
