package sink

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/refedge/refedge/attribution/event"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	chcluster "github.com/refedge/refedge/deploy/clickhouse/cluster"
)

var DBNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// OpenClickHouse connects with the native protocol (the HTTP protocol does not speak to
// ClickHouse 18.16) and returns the connection and the DSN's database (default "refedge").
// The connection's default database is "default", so it works before migrate creates the
// refedge database; queries name their database explicitly.
func OpenClickHouse(ctx context.Context, dsn string) (driver.Conn, string, error) {
	opts, db, err := ClickHouseOptions(dsn)
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
func ClickHouseOptions(dsn string) (*clickhouse.Options, string, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("cannot parse ClickHouse DSN: %w", err)
	}
	db := opts.Auth.Database
	if db == "" {
		db = "refedge"
	}
	if !DBNamePattern.MatchString(db) {
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
			if err := conn.Exec(ctx, stmt); err != nil && !chschema.AlreadyDone(stmt, err) {
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

	spare event.Scratch[clickBatch]
}

// Name implements Sink.
func (s *ClickHouseClicks) Name() string { return "clickhouse" }

// clickColumns is the explicit column list ClickHouse 18.16 needs for batch inserts;
// clickBatch.append fills them in this order.
const ClickColumns = "click_id, ts, partner_id, verdict, reasons, source, creative, sub_id, visitor_id, visitor_hash, referer_host, path, query, device, browser, user_agent"

// clickBatch holds one batch column by column. The strings alias the clicks (the
// driver copies them into its own buffers on append); the slices are reused.
type clickBatch struct {
	ts      []time.Time
	str     [numClickStrColumns][]string
	reasons []string // every row's reasons, one after the other
	rows    []span   // per row: its reasons in reasons
}

type span struct{ from, to int }

// The String columns of clickColumns, by position in clickBatch.str.
const (
	colClickID = iota
	colPartner
	colVerdict
	colSource
	colCreative
	colSubID
	colVisitorID
	colVisitorHash
	colRefererHost
	colPath
	colQuery
	colDevice
	colBrowser
	colUserAgent
	numClickStrColumns
)

func (cc *clickBatch) fill(clicks []*event.Click) {
	cc.ts = cc.ts[:0]
	for i := range cc.str {
		cc.str[i] = cc.str[i][:0]
	}
	cc.reasons, cc.rows = cc.reasons[:0], cc.rows[:0]
	add := func(col int, v string) { cc.str[col] = append(cc.str[col], v) }
	for _, c := range clicks {
		cc.ts = append(cc.ts, c.Time.UTC())
		add(colClickID, unsafe.String(&c.ID[0], len(c.ID)))
		add(colPartner, c.Partner())
		add(colVerdict, c.Verdict.String())
		add(colSource, c.Source())
		add(colCreative, c.Creative())
		add(colSubID, c.SubID())
		add(colVisitorID, c.VisitorID())
		add(colVisitorHash, c.VisitorHash())
		add(colRefererHost, c.RefererHost())
		add(colPath, c.Path())
		add(colQuery, c.Query())
		add(colDevice, c.Device())
		add(colBrowser, c.Browser())
		add(colUserAgent, c.UserAgent())
		from := len(cc.reasons)
		for i := range c.NumReasons() {
			cc.reasons = append(cc.reasons, c.Reason(i))
		}
		cc.rows = append(cc.rows, span{from, len(cc.reasons)})
	}
}

// insertBlockRows is how many rows go into each block of an insert. The driver's column
// buffers grow to one block and are reused for the next (one big block would regrow
// them, copying, every batch), and the server works on a block while the next is
// encoded. The server squashes the blocks of one INSERT (min_insert_block_size_rows),
// so a batch still makes one part per table.
const insertBlockRows = 8192

// append hands rows [lo, hi) to b in clickColumns order.
func (cc *clickBatch) append(b driver.Batch, lo, hi int) error {
	str := func(col int) any { return cc.str[col][lo:hi] }
	for i, v := range []any{str(colClickID), cc.ts[lo:hi], str(colPartner), str(colVerdict)} {
		if err := b.Column(i).Append(v); err != nil {
			return err
		}
	}
	// Array(String) row by row: the driver's whole-column path for arrays reflects.
	col := b.Column(4)
	for _, r := range cc.rows[lo:hi] {
		if err := col.AppendRow(cc.reasons[r.from:r.to:r.to]); err != nil {
			return err
		}
	}
	for i, c := range []int{colSource, colCreative, colSubID, colVisitorID, colVisitorHash, colRefererHost,
		colPath, colQuery, colDevice, colBrowser, colUserAgent} {
		if err := b.Column(5 + i).Append(str(c)); err != nil {
			return err
		}
	}
	return nil
}

func (cc *clickBatch) reset() {
	clear(cc.ts)
	for i := range cc.str {
		clear(cc.str[i])
	}
	clear(cc.reasons)
}

// clickInsertSettings apply to click inserts. Most of an insert's server time goes to
// the materialized views on clicks (hourly and daily aggregates and breakdowns: about
// 22 of 27 µs of CPU per row on 18.16); parallel_view_processing feeds them from
// several threads at once instead of one after the other (18.16 has the setting),
// which raised the rows per second a loaded server took by about 30%.
var clickInsertSettings = clickhouse.WithSettings(clickhouse.Settings{"parallel_view_processing": 1})

// Write implements Sink: one INSERT per batch, sent in blocks of insertBlockRows.
// Columns are appended whole (clickhouse-go's columnar path) rather than row by row,
// which boxes every value into an interface.
func (s *ClickHouseClicks) Write(ctx context.Context, clicks []*event.Click) error {
	b, err := s.Conn.PrepareBatch(clickhouse.Context(ctx, clickInsertSettings), "INSERT INTO "+s.DB+".clicks ("+ClickColumns+")")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d clicks: %w", len(clicks), err)
	}
	cc := s.spare.Get()
	defer func() {
		cc.reset() // the strings alias clicks the pipeline is about to release
		s.spare.Put(cc)
	}()
	cc.fill(clicks)
	for lo := 0; lo < len(clicks); lo += insertBlockRows {
		hi := min(lo+insertBlockRows, len(clicks))
		err := cc.append(b, lo, hi)
		if err == nil && hi < len(clicks) {
			err = b.Flush()
		}
		if err != nil {
			_ = b.Abort()
			return fmt.Errorf("cannot send %d clicks to ClickHouse: %w", len(clicks), err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d clicks to ClickHouse: %w", len(clicks), err)
	}
	return nil
}
