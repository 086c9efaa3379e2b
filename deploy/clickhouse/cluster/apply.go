package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/refedge/refedge/deploy/clickhouse"
)

// MarkerPrefix starts the name of the version-0 row of {db}.schema_migrations that says
// the database is sharded over a cluster: "cluster:<name>".
const MarkerPrefix = "cluster:"

// Dialer opens a native-protocol connection to the server at addr (host:port).
type Dialer func(ctx context.Context, addr string) (driver.Conn, error)

// Host is one server of a cluster.
type Host struct {
	Shard, Replica int
	// Addr is host:port as the cluster definition names it.
	Addr string
}

// Hosts lists the servers of cluster as conn's server defines it (remote_servers).
func Hosts(ctx context.Context, conn driver.Conn, cluster string) ([]Host, error) {
	rows, err := conn.Query(ctx, "SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		return nil, fmt.Errorf("cannot read system.clusters: %w", err)
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		var shard, replica uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &replica, &host, &port); err != nil {
			return nil, fmt.Errorf("cannot read system.clusters: %w", err)
		}
		out = append(out, Host{Shard: int(shard), Replica: int(replica), Addr: net.JoinHostPort(host, strconv.Itoa(int(port)))})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read system.clusters: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %q is not defined on this server (remote_servers in its config)", cluster)
	}
	return out, nil
}

// DistributedDDL reports whether conn's server runs ON CLUSTER queries: it needs
// ZooKeeper (or Keeper) in its configuration.
func DistributedDDL(ctx context.Context, conn driver.Conn) bool {
	var n uint64
	return conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n) == nil
}

// Apply creates database db on every server of opts.Cluster and applies every embedded
// migration not yet recorded there, in cluster form (see Render). conn is any server of
// the cluster; dial opens the others. Safe to run again at any time: servers that have a
// migration skip it, and a server added later gets everything.
func Apply(ctx context.Context, conn driver.Conn, dial Dialer, db string, opts Options, log *slog.Logger) error {
	if !identRE.MatchString(db) {
		return fmt.Errorf("database name %q is not a plain identifier", db)
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	migs, err := chschema.Migrations(db)
	if err != nil {
		return err
	}
	rendered, err := Render(migs, db, opts)
	if err != nil {
		return err
	}
	hosts, err := Hosts(ctx, conn, opts.Cluster)
	if err != nil {
		return err
	}
	onCluster := DistributedDDL(ctx, conn)
	if opts.Replicated && !onCluster {
		return errors.New("replicated tables need ZooKeeper or Keeper, and this server has none configured")
	}
	if !opts.Replicated && replicasPerShard(hosts) > 1 {
		log.Warn("shards have several replicas but the tables are not replicated: a replica holds only what the Distributed tables write to it (internal_replication false)")
	}
	a := &applier{db: db, opts: opts, hosts: hosts, onCluster: onCluster, log: log}
	defer a.close()
	if err := a.connect(ctx, dial); err != nil {
		return err
	}
	if err := a.prepare(ctx); err != nil {
		return err
	}
	log.Info("clickhouse cluster migrate", "cluster", opts.Cluster, "servers", len(hosts),
		"shards", hosts[len(hosts)-1].Shard, "on_cluster_ddl", onCluster, "replicated", opts.Replicated)
	for _, m := range rendered {
		if err := a.migration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func replicasPerShard(hosts []Host) int {
	n := 0
	for _, h := range hosts {
		n = max(n, h.Replica)
	}
	return n
}

type applier struct {
	db        string
	opts      Options
	hosts     []Host
	conns     []driver.Conn
	applied   []map[int]bool // per host
	onCluster bool
	log       *slog.Logger
}

func (a *applier) close() {
	for _, c := range a.conns {
		if c != nil {
			c.Close()
		}
	}
}

func (a *applier) connect(ctx context.Context, dial Dialer) error {
	a.conns = make([]driver.Conn, len(a.hosts))
	for i, h := range a.hosts {
		c, err := dial(ctx, h.Addr)
		if err == nil {
			err = c.Ping(ctx)
		}
		if err != nil {
			return fmt.Errorf("cluster %s, shard %d replica %d (%s): %w", a.opts.Cluster, h.Shard, h.Replica, h.Addr, err)
		}
		a.conns[i] = c
	}
	return nil
}

// prepare creates the database and schema_migrations on every server, marks them as
// sharded over the cluster (before any table exists, so a single-server migrate that
// starts meanwhile refuses), and reads what each server has.
func (a *applier) prepare(ctx context.Context) error {
	a.applied = make([]map[int]bool, len(a.hosts))
	for i, c := range a.conns {
		h := a.hosts[i]
		for _, q := range []string{
			"CREATE DATABASE IF NOT EXISTS " + a.db,
			"CREATE TABLE IF NOT EXISTS " + a.db + ".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
		} {
			if err := c.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", h.Addr, err)
			}
		}
		rows, err := c.Query(ctx, "SELECT version, name FROM "+a.db+".schema_migrations")
		if err != nil {
			return fmt.Errorf("%s: cannot read %s.schema_migrations: %w", h.Addr, a.db, err)
		}
		a.applied[i] = map[int]bool{}
		marker := ""
		for rows.Next() {
			var v uint32
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				rows.Close()
				return err
			}
			if v == 0 && strings.HasPrefix(name, MarkerPrefix) {
				marker = strings.TrimPrefix(name, MarkerPrefix)
				continue
			}
			a.applied[i][int(v)] = true
		}
		rows.Close()
		switch {
		case marker == a.opts.Cluster:
		case marker != "":
			return fmt.Errorf("%s: database %s is sharded over cluster %s, not %s", h.Addr, a.db, marker, a.opts.Cluster)
		case len(a.applied[i]) > 0:
			return fmt.Errorf("%s: database %s already has single-server tables (migrations applied without --cluster); "+
				"migrate into a new database and copy the data (docs/operations.md)", h.Addr, a.db)
		default:
			if err := record(ctx, c, a.db, 0, MarkerPrefix+a.opts.Cluster); err != nil {
				return fmt.Errorf("%s: %w", h.Addr, err)
			}
		}
	}
	return nil
}

func (a *applier) migration(ctx context.Context, m Migration) error {
	var pending []int
	for i := range a.hosts {
		if !a.applied[i][m.Version] {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	start := time.Now()
	// ON CLUSTER reaches every server, so it is used only when every server lacks the
	// migration; a server added later gets its DDL directly.
	everywhere := len(pending) == len(a.hosts)
	onCluster := a.onCluster && everywhere
	for n, s := range m.Statements {
		var err error
		switch s.Kind {
		case DDL:
			if onCluster {
				err = a.exec(ctx, 0, s.SQL(true))
				break
			}
			for _, i := range pending {
				if err = a.exec(ctx, i, s.SQL(false)); err != nil {
					break
				}
			}
		case PerShard:
			for _, i := range a.shardRunners(pending) {
				if err = a.exec(ctx, i, s.SQL(false)); err != nil {
					break
				}
			}
		case Once:
			if everywhere {
				err = a.exec(ctx, 0, s.SQL(false))
			}
		}
		if err != nil {
			return fmt.Errorf("migration %s, statement %d (%s): %w", m.Name, n+1, s.Kind, err)
		}
	}
	for _, i := range pending {
		if err := record(ctx, a.conns[i], a.db, m.Version, m.Name); err != nil {
			return fmt.Errorf("%s: cannot record migration %s: %w", a.hosts[i].Addr, m.Name, err)
		}
		a.applied[i][m.Version] = true
	}
	a.log.Info("clickhouse cluster migration applied", "migration", m.Name, "servers", len(pending),
		"on_cluster_ddl", onCluster, "duration", time.Since(start))
	return nil
}

// shardRunners picks, for every shard none of whose servers has the migration, its first
// pending server: a backfill runs once per shard and replication copies it.
func (a *applier) shardRunners(pending []int) []int {
	done := map[int]bool{}
	for i, h := range a.hosts {
		if !contains(pending, i) {
			done[h.Shard] = true
		}
	}
	var out []int
	for _, i := range pending {
		if s := a.hosts[i].Shard; !done[s] {
			done[s] = true
			out = append(out, i)
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// exec runs q on server i; an ADD COLUMN of a column the server has is done already
// (chschema.AlreadyDone).
func (a *applier) exec(ctx context.Context, i int, q string) error {
	if err := a.conns[i].Exec(ctx, q); err != nil && !chschema.AlreadyDone(q, err) {
		return fmt.Errorf("%s: %w", a.hosts[i].Addr, err)
	}
	return nil
}

// record adds a row to schema_migrations: a batch, since ClickHouse 18.16 never answers
// an INSERT ... VALUES sent with Exec over the native protocol.
func record(ctx context.Context, c driver.Conn, db string, version int, name string) error {
	b, err := c.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
	if err == nil {
		if err = b.Append(uint32(version), name, time.Now().UTC().Truncate(time.Second)); err == nil {
			err = b.Send()
		}
	}
	return err
}
