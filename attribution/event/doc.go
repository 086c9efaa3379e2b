// Package attribution owns refedge's events and what happens to them after the edge.
//
// Events. The edge hands each click, impression or revocation to a Pipeline without
// waiting. A pipeline batches events by count and age and gives each batch to its sinks
// (ClickHouse, Kafka), each on its own goroutine, so a slow sink never stalls the others
// or the visitor. A sink that keeps failing spools its batches to disk (spool.go:
// checksummed segments, replayed in order when the sink answers again, corrupt segments
// quarantined); Stop flushes or spools everything queued, so a clean shutdown loses
// nothing. The ClickHouse schema comes from deploy/clickhouse (Migrate, MigrateCluster);
// every Kafka event is an Envelope.
//
// Ledger (ledger_*.go, rules*.go, commission.go, consumer*.go). Consumer groups read the
// marketplace's topics (partners, users, kworks, orders), one Lua script per referral
// decides attribution, activation, detachment, expiry and commission lines on the
// events' own time, and an outbox with leases produces referral.attributions and
// referral.commissions exactly once per idempotency key before offsets are committed.
// docs/commissions.md has the rules and the rounding.
//
// Analytics (analytics_*.go, dashboard*.go) answers the partner API and the /partner
// dashboard from sealed hourly and daily aggregates, exact after retried batches
// (docs/analytics.md). Review (review*.go) ranks partners by risk for operators
// (docs/review.md). Simulate plays the marketplace core for tests and demos.
package event
