// Package cluster puts refedge's ClickHouse schema on a cluster: it turns the
// single-server migrations embedded from deploy/clickhouse/migrations into their cluster
// form and applies them to every server of a remote_servers cluster.
//
// The cluster form of a migration (Render):
//   - every MergeTree-family table T becomes T_local on every server (Replicated*MergeTree
//     with Options.Replicated, for shards with several replicas and ZooKeeper or Keeper)
//     plus a Distributed table T under the name the application queries, sharded by
//     cityHash64(partner_id), so one partner's rows and aggregates live on one shard;
//   - materialized views read T_local and write the local aggregate table, so each shard
//     aggregates its own partners and a query through the Distributed aggregate merges them;
//   - backfills (INSERT ... SELECT between sharded tables) run once per shard on local tables;
//   - DDL carries ON CLUSTER <name>.
//
// Apply runs the DDL once with ON CLUSTER when the servers have distributed DDL
// (ZooKeeper or Keeper configured), and otherwise on every server in turn without it, so
// a cluster of plain MergeTree shards needs no ZooKeeper at all. Each server records the
// migrations it has in its own {db}.schema_migrations, plus a version-0 row naming the
// cluster: a single-server migrate (refedge serve at start-up) then refuses to apply a
// pending migration to a sharded database instead of creating single-server tables.
package cluster
