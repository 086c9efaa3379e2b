// Package attribution owns refedge's events and what happens to them after the edge.
//
// The edge hands each click or impression to a Pipeline without waiting. A pipeline
// batches events by count and age and gives each batch to its sinks (ClickHouse, Kafka),
// each on its own goroutine, so a slow sink never stalls the others or the visitor. A sink
// that fails retries with backoff; Stop flushes everything queued, so a clean shutdown
// loses nothing.
//
// The same package holds the ClickHouse schema migrations (from deploy/clickhouse), the
// Kafka envelope, and — in later files — the referral ledger, commission rules and the
// partner analytics queries.
package attribution
