// Package clustertest runs refedge against the distributed engines it scales out on: a
// 3-master Redis Cluster and a two-shard ClickHouse cluster that
// `deploy/dev/services.sh start-cluster` runs on loopback. Its helpers find those
// clusters (starting them when they do not answer) and build the refedge binary; its
// tests put every Redis user of refedge (the click path's scripts, the partner registry,
// token revocation, the widget catalog and store, the referral ledger) on the Redis
// Cluster, and the ClickHouse schema, writer and aggregates on the two shards.
//
// As with internal/testenv, a cluster that cannot be started skips the test with a hint,
// and fails it when CI=true.
package clustertest
