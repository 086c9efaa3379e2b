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

// Builds: the sealer writes the aggregates of closed hours from raw rows, one row per
// event id, and those of ended days from their hours' builds, under a build id that is
// part of each built table's sort key (0012_sealed_aggregates.sql), so two builds of the
// same period never sum together. Each build is one INSERT ... SELECT per table; after
// it, the sealer reads back what the build counted per partner and period and seals only
// builds whose count equals the count it measured before (sealer.go).

// newBuild returns a random non-zero build id. Tests replace it.
var newBuild = func() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// dimsVerdictCols lists the v_<verdict> columns of clicks_dims_*_built; dimsVerdictCounts
// sums the per-verdict counts c into them, dimsVerdictSums sums hourly rows' columns;
// all from event.Verdicts().
var dimsVerdictCols, dimsVerdictCounts, dimsVerdictSums = func() (cols, counts, sums string) {
	var c, n, s []string
	for _, v := range event.Verdicts() {
		c = append(c, "v_"+v.String())
		n = append(n, "sumIf(c, verdict = '"+v.String()+"') AS v_"+v.String())
		s = append(s, "sum(v_"+v.String()+")")
	}
	return strings.Join(c, ", "), strings.Join(n, ", "), strings.Join(s, ", ")
}()

// buildTarget is one built table: what a build writes into it (SELECT sel FROM src
// tail, with "{db}" in src standing for the database, and args bound after the build
// id), its time column, and the SQL that counts a build's events per partner and period
// (empty: not checked).
type buildTarget struct {
	table, tc, cols, sel, src, tail, count string
	args                                   []any
}

// hourBuilds are the hourly built tables of clicks, from raw rows of partners in hours.
// The breakdowns are counted by their one 'source' row per click.
func hourBuilds(partners []string, hours []uint32, from, to time.Time) []buildTarget {
	set := make([]any, len(hours))
	for i, h := range hours {
		set[i] = h
	}
	where := "partner_id IN ? AND ts >= ? AND ts < ? AND toUInt32(toStartOfHour(ts, 'UTC')) IN ?"
	args := []any{groupSet(partners), from, to, clickhouse.GroupSet{Value: set}}
	dedup := "(SELECT partner_id, toStartOfHour(ts, 'UTC') AS p, click_id, verdict, " + clickDimsCols +
		" FROM {db}.clicks WHERE " + where + " LIMIT 1 BY partner_id, p, click_id)"
	return []buildTarget{{
		table: "clicks_dims_hourly_built", tc: "hour",
		cols: "partner_id, hour, build, dim, value, clicks, " + dimsVerdictCols,
		// Counted per verdict first, then pivoted into the verdict columns (stats_clicks.go).
		sel: "partner_id, p, ?, dim, value, sum(c), " + dimsVerdictCounts,
		src: "(SELECT partner_id, p, d.1 AS dim, d.2 AS value, verdict, count() AS c FROM " + dedup +
			" ARRAY JOIN " + clickDimsArray + " AS d GROUP BY partner_id, p, dim, value, verdict)",
		tail:  "GROUP BY partner_id, p, dim, value",
		count: "sumIf(clicks, dim = 'source')",
		args:  args,
	}, {
		table: "visitors_hourly_built", tc: "hour",
		cols: "partner_id, hour, build, visitors",
		sel:  "partner_id, toStartOfHour(ts, 'UTC') AS p, ?, uniqHLL12State(visitor_id)",
		src:  "{db}.clicks WHERE " + where + " AND verdict = 'valid'",
		tail: "GROUP BY partner_id, p",
		args: args,
	}}
}

// dayBuilds are fact f's daily built tables for partners and day d, summed from the
// day's hours: the live hourly table, and for clicks the hourly builds named in hours
// ((partner, hour, build) triples). The sealer builds a day only when every hour of it
// is vouched for (sealDay), so the sums are exact.
func dayBuilds(f *anFact, partners []string, hours clickhouse.GroupSet, d time.Time) []buildTarget {
	args := []any{groupSet(partners), d, d.AddDate(0, 0, 1)}
	where := "WHERE partner_id IN ? AND hour >= ? AND hour < ?"
	if f == factImpressions {
		return []buildTarget{{
			table: "impressions_daily_built", tc: "day",
			cols:  "partner_id, day, build, source, creative, size, impressions",
			sel:   "partner_id, toStartOfDay(hour, 'UTC') AS p, ?, source, creative, size, sum(impressions)",
			src:   "{db}.impressions_hourly " + where,
			tail:  "GROUP BY partner_id, p, source, creative, size",
			count: "sum(impressions)",
			args:  args,
		}}
	}
	built := append(args[:3:3], hours)
	where += " AND (partner_id, toUInt32(hour), build) IN ?"
	return []buildTarget{{
		table: "clicks_daily_built", tc: "day",
		cols:  "partner_id, day, build, verdict, source, clicks",
		sel:   "partner_id, toStartOfDay(hour, 'UTC') AS p, ?, verdict, source, sum(clicks)",
		src:   "{db}.clicks_hourly WHERE partner_id IN ? AND hour >= ? AND hour < ?",
		tail:  "GROUP BY partner_id, p, verdict, source",
		count: "sum(clicks)",
		args:  args,
	}, {
		table: "clicks_dims_daily_built", tc: "day",
		cols:  "partner_id, day, build, dim, value, clicks, " + dimsVerdictCols,
		sel:   "partner_id, toStartOfDay(hour, 'UTC') AS p, ?, dim, value, sum(clicks), " + dimsVerdictSums,
		src:   "{db}.clicks_dims_hourly_built " + where,
		tail:  "GROUP BY partner_id, p, dim, value",
		count: "sumIf(clicks, dim = 'source')",
		args:  built,
	}, {
		table: "visitors_daily_built", tc: "day",
		cols: "partner_id, day, build, visitors",
		sel:  "partner_id, toStartOfDay(hour, 'UTC') AS p, ?, uniqHLL12MergeState(visitors)",
		src:  "{db}.visitors_hourly_built " + where,
		tail: "GROUP BY partner_id, p",
		args: built,
	}}
}

// runBuild writes build into every target, then returns, per partner and period in
// [from, to), the events the build counted: the same in every checked target, or a value
// no measured count can equal when targets disagree (one of them landed twice).
func (a *Analytics) runBuild(ctx context.Context, targets []buildTarget, build uint64, partners []string, from, to time.Time) (map[sealKey]uint64, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*a.Cfg.QueryTimeout)
	defer cancel()
	// On a sharded database the built tables are Distributed: the build must have reached
	// its shard before it is counted back.
	qctx = syncInsert(qctx)
	var got map[sealKey]uint64
	for _, t := range targets {
		q := "INSERT INTO " + a.t(t.table) + " (" + t.cols + ") SELECT " + t.sel + " FROM " +
			strings.ReplaceAll(t.src, "{db}.", a.db+".") + " " + t.tail
		if err := a.Conn.Exec(qctx, q, append([]any{build}, t.args...)...); err != nil {
			return nil, fmt.Errorf("cannot build %s: %w", t.table, err)
		}
		if t.count == "" {
			continue
		}
		n, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32("+t.tc+"), toUInt64("+t.count+") FROM "+a.t(t.table)+
			" WHERE partner_id IN ? AND "+t.tc+" >= ? AND "+t.tc+" < ? AND build = ? GROUP BY partner_id, "+t.tc, groupSet(partners), from, to, build)
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
