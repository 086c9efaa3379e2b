package attribution

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/refedge/refedge/deploy/clickhouse"
	chcluster "github.com/refedge/refedge/deploy/clickhouse/cluster"
)

var dbNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// OpenClickHouse connects with the native protocol (the HTTP protocol does not speak to
// ClickHouse 18.16) and returns the connection and the DSN's database (default "refedge").
// The connection's default database is "default", so it works before migrate creates the
// refedge database; queries name their database explicitly.
func OpenClickHouse(ctx context.Context, dsn string) (driver.Conn, string, error) {
	opts, db, err := clickHouseOptions(dsn)
	if err != nil {
		return nil, "", err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, "", fmt.Errorf("cannot open ClickHouse: %w", err)
	}
	return conn, db, nil
}

// clickHouseOptions parses dsn into connection options on database "default" (so they
// work before migrate creates the database) and returns the DSN's database, "refedge"
// when it names none.
func clickHouseOptions(dsn string) (*clickhouse.Options, string, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("cannot parse ClickHouse DSN: %w", err)
	}
	db := opts.Auth.Database
	if db == "" {
		db = "refedge"
	}
	if !dbNameRE.MatchString(db) {
		return nil, "", fmt.Errorf("ClickHouse database name %q is not a plain identifier", db)
	}
	opts.Auth.Database = "default"
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 3 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	return opts, db, nil
}

// Migrate creates the database and applies every embedded migration not yet recorded in
// {db}.schema_migrations. It is idempotent and safe to run at every start-up.
func Migrate(ctx context.Context, conn driver.Conn, db string, log *slog.Logger) error {
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return fmt.Errorf("cannot create database %s: %w", db, err)
	}
	if err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+db+`.schema_migrations (
		version UInt32, name String, applied_at DateTime
	) ENGINE = MergeTree() ORDER BY version`); err != nil {
		return fmt.Errorf("cannot create %s.schema_migrations: %w", db, err)
	}
	applied := map[uint32]bool{}
	cluster := "" // set when `migrate --cluster` sharded the database (deploy/clickhouse/cluster)
	rows, err := conn.Query(ctx, "SELECT version, name FROM "+db+".schema_migrations")
	if err != nil {
		return fmt.Errorf("cannot read %s.schema_migrations: %w", db, err)
	}
	for rows.Next() {
		var v uint32
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
		if v == 0 && strings.HasPrefix(name, chcluster.MarkerPrefix) {
			cluster = strings.TrimPrefix(name, chcluster.MarkerPrefix)
		}
	}
	rows.Close()
	migs, err := chschema.Migrations(db)
	if err != nil {
		return err
	}
	for _, m := range migs {
		if applied[uint32(m.Version)] {
			continue
		}
		if cluster != "" {
			return fmt.Errorf("database %s is sharded over ClickHouse cluster %s: apply migration %s with `refedge migrate --cluster %s`",
				db, cluster, m.Name, cluster)
		}
		start := time.Now()
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		// A batch, not Exec with VALUES: 18.16 never answers the latter over the native
		// protocol.
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
		if err == nil {
			if err = b.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second)); err == nil {
				err = b.Send()
			}
		}
		if err != nil {
			return fmt.Errorf("cannot record migration %s: %w", m.Name, err)
		}
		log.Info("clickhouse migration applied", "migration", m.Name, "duration", time.Since(start))
	}
	return nil
}

// MigrateCluster applies the migrations in cluster form to every server of
// opts.Cluster (deploy/clickhouse/cluster): local tables, Distributed tables sharded by
// partner, ON CLUSTER when the servers have ZooKeeper, server by server otherwise. dsn
// names any server of the cluster; the others are reached with the same credentials.
func MigrateCluster(ctx context.Context, dsn string, opts chcluster.Options, log *slog.Logger) error {
	conn, db, err := OpenClickHouse(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	dial := func(ctx context.Context, addr string) (driver.Conn, error) {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("cannot parse ClickHouse DSN: %w", err)
		}
		u.Host = addr
		c, _, err := OpenClickHouse(ctx, u.String())
		return c, err
	}
	return chcluster.Apply(ctx, conn, dial, db, opts, log)
}

// ClickHouseClicks writes click batches to {db}.clicks.
type ClickHouseClicks struct {
	Conn driver.Conn
	DB   string
}

// Name implements Sink.
func (s *ClickHouseClicks) Name() string { return "clickhouse" }

// clickColumns is the explicit column list ClickHouse 18.16 needs for batch inserts.
const clickColumns = "click_id, ts, partner_id, verdict, reasons, source, creative, sub_id, visitor_id, visitor_hash, referer_host, path, query, device, browser, user_agent"

// Write implements Sink.
func (s *ClickHouseClicks) Write(ctx context.Context, clicks []*Click) error {
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.DB+".clicks ("+clickColumns+")")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d clicks: %w", len(clicks), err)
	}
	for _, c := range clicks {
		if err := b.Append(string(c.ID[:]), c.Time.UTC(), c.Partner(), c.Verdict.String(), c.Reasons(),
			c.Source(), c.Creative(), c.SubID(), c.VisitorID(), c.VisitorHash(), c.RefererHost(),
			c.Path(), c.Query(), c.Device(), c.Browser(), c.UserAgent()); err != nil {
			_ = b.Abort()
			return fmt.Errorf("cannot append click %s: %w", c.ID[:], err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d clicks to ClickHouse: %w", len(clicks), err)
	}
	return nil
}
