// Package sink writes events where they are kept: ClickHouse (clicks, impressions,
// revocations, the operators' audit trail) and Kafka (referral.clicks, click revocations,
// refedge.audit). It also owns the ClickHouse schema's application (Migrate,
// MigrateCluster, from deploy/clickhouse) and the connection settings every ClickHouse
// user of refedge shares.
package sink
