package analytics

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/refedge/refedge/attribution/event"
)

// Builds: the sealer writes the aggregates of closed hours and days from raw rows, one
// row per event id, under a build id that is part of each built table's sort key
// (0012_sealed_aggregates.sql), so two builds of the same period never sum together. Each
// build is one INSERT ... SELECT per table; after it, the sealer reads back what the build
// counted per partner and period and seals only builds whose count equals the distinct
// count it measured just before (sealer.go).

// newBuild returns a random non-zero build id. Tests replace it.
var newBuild = func() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// dimsVerdictCols lists the v_<verdict> columns of clicks_dims_*_built and their
// sums of the per-verdict counts c, from event.Verdicts().
var dimsVerdictCols, dimsVerdictCounts = func() (cols, counts string) {
	var c, n []string
	for _, v := range event.Verdicts() {
		c = append(c, "v_"+v.String())
		n = append(n, "sumIf(c, verdict = '"+v.String()+"') AS v_"+v.String())
	}
	return strings.Join(c, ", "), strings.Join(n, ", ")
}()

// buildTarget is one built table: its time column, what a build writes into it, and the
// SQL that counts a build's events per partner and period (empty: not checked).
type buildTarget struct {
	table, cols, sel, from, tail, count string
}

// clickBuilds are the built tables of clicks, hourly or daily. The breakdowns are counted
// by their one 'source' row per click.
func clickBuilds(hourly bool) []buildTarget {
	tc, tier, bucket := "day", "daily", "toStartOfDay(ts, 'UTC')"
	if hourly {
		tc, tier, bucket = "hour", "hourly", "toStartOfHour(ts, 'UTC')"
	}
	dedup := "(SELECT partner_id, " + bucket + " AS p, click_id, verdict, " + clickDimsCols +
		" FROM %s WHERE %s LIMIT 1 BY partner_id, p, click_id)"
	dims := buildTarget{
		table: "clicks_dims_" + tier + "_built",
		cols:  "partner_id, " + tc + ", build, dim, value, clicks, " + dimsVerdictCols,
		// Counted per verdict first, then pivoted into the verdict columns (stats_clicks.go).
		sel:   "partner_id, p, ?, dim, value, sum(c), " + dimsVerdictCounts,
		from:  "(SELECT partner_id, p, d.1 AS dim, d.2 AS value, verdict, count() AS c FROM " + dedup + " ARRAY JOIN " + clickDimsArray + " AS d GROUP BY partner_id, p, dim, value, verdict)",
		tail:  "GROUP BY partner_id, p, dim, value",
		count: "sumIf(clicks, dim = 'source')",
	}
	visitors := buildTarget{
		table: "visitors_" + tier + "_built",
		cols:  "partner_id, " + tc + ", build, visitors",
		sel:   "partner_id, p, ?, uniqHLL12State(visitor_id)",
		from:  "(SELECT partner_id, " + bucket + " AS p, visitor_id FROM %s WHERE %s AND verdict = 'valid')",
		tail:  "GROUP BY partner_id, p",
	}
	if hourly {
		return []buildTarget{dims, visitors}
	}
	return []buildTarget{{
		table: "clicks_daily_built",
		cols:  "partner_id, day, build, verdict, source, clicks",
		sel:   "partner_id, p, ?, verdict, source, count()",
		from:  dedup,
		tail:  "GROUP BY partner_id, p, verdict, source",
		count: "sum(clicks)",
	}, dims, visitors}
}

var impressionDayBuilds = []buildTarget{{
	table: "impressions_daily_built",
	cols:  "partner_id, day, build, source, creative, size, impressions",
	sel:   "partner_id, p, ?, source, creative, size, count()",
	from:  "(SELECT partner_id, toStartOfDay(ts, 'UTC') AS p, impression_id, source, creative, size FROM %s WHERE %s LIMIT 1 BY partner_id, p, impression_id)",
	tail:  "GROUP BY partner_id, p, source, creative, size",
	count: "sum(impressions)",
}}

// runBuild writes build into every target from the raw rows of table matching where
// (with args), then returns, per partner and period, the events the build counted: the
// same in every checked target, or a value no measured count can equal when targets
// disagree (one of them landed twice).
func (a *Analytics) runBuild(ctx context.Context, targets []buildTarget, tc, table, where string, build uint64, args []any,
	partners []string, from, to time.Time) (map[sealKey]uint64, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*a.Cfg.QueryTimeout)
	defer cancel()
	// On a sharded database the built tables are Distributed: the build must have reached
	// its shard before it is counted back (docs/operations.md, "ClickHouse cluster").
	qctx = clickhouse.Context(qctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	var got map[sealKey]uint64
	for _, t := range targets {
		q := "INSERT INTO " + a.t(t.table) + " (" + t.cols + ") SELECT " + t.sel + " FROM " +
			fmt.Sprintf(t.from, a.t(table), where) + " " + t.tail
		if err := a.Conn.Exec(qctx, q, append([]any{build}, args...)...); err != nil {
			return nil, fmt.Errorf("cannot build %s: %w", t.table, err)
		}
		if t.count == "" {
			continue
		}
		n, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32("+tc+"), toUInt64("+t.count+") FROM "+a.t(t.table)+
			" WHERE partner_id IN ? AND "+tc+" >= ? AND "+tc+" < ? AND build = ? GROUP BY partner_id, "+tc, groupSet(partners), from, to, build)
		if err != nil {
			return nil, fmt.Errorf("cannot count build of %s: %w", t.table, err)
		}
		if got == nil {
			got = n
			continue
		}
		for k, v := range got {
			if n[k] != v {
				got[k] = ^uint64(0) // the tables disagree: never equal to a measured count
			}
		}
	}
	return got, nil
}

// buildHours builds the clicks' hourly tables for partners and hours.
func (a *Analytics) buildHours(ctx context.Context, build uint64, partners []string, hours []uint32, from, to time.Time) (map[sealKey]uint64, error) {
	set := make([]any, len(hours))
	for i, h := range hours {
		set[i] = h
	}
	return a.runBuild(ctx, clickBuilds(true), "hour", "clicks",
		"partner_id IN ? AND ts >= ? AND ts < ? AND toUInt32(toStartOfHour(ts, 'UTC')) IN ?", build,
		[]any{groupSet(partners), from, to, clickhouse.GroupSet{Value: set}}, partners, from, to)
}

// buildDay builds fact f's daily tables for partners and day d.
func (a *Analytics) buildDay(ctx context.Context, f *anFact, build uint64, partners []string, d time.Time) (map[sealKey]uint64, error) {
	targets := impressionDayBuilds
	if f == factClicks {
		targets = clickBuilds(false)
	}
	return a.runBuild(ctx, targets, "day", f.table, "partner_id IN ? AND ts >= ? AND ts < ?", build,
		[]any{groupSet(partners), d, d.AddDate(0, 0, 1)}, partners, d, d.AddDate(0, 0, 1))
}
