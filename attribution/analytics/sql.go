package analytics

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// SQL builds a query from constant text and bound arguments. Request values only ever
// enter through args, which clickhouse-go binds with quoting.
type SQL struct {
	b    strings.Builder
	args []any
}

func (q *SQL) Add(s string, args ...any) {
	q.b.WriteString(s)
	q.args = append(q.args, args...)
}

func (q *SQL) String() string { return q.b.String() }

// spanCond appends "((col >= ? AND col < ?) OR ...)".
func (q *SQL) spanCond(col string, spans []anSpan) {
	q.Add("(")
	for i, s := range spans {
		if i > 0 {
			q.Add(" OR ")
		}
		q.Add("("+col+" >= ? AND "+col+" < ?)", s.From, s.To)
	}
	q.Add(")")
}

// hoursCond appends a filter keeping the hours of raw for DateTime column col: runs of
// hours as ranges when there are few (the usual hot tail), else a list of hour starts.
func (q *SQL) hoursCond(col string, raw anRaw, maxRuns int) {
	if len(raw.spans) <= maxRuns {
		q.spanCond(col, raw.spans)
		return
	}
	set := make([]any, len(raw.hours))
	for i, h := range raw.hours {
		set[i] = h
	}
	q.Add("intDiv(toUInt32("+col+"), 3600) * 3600 IN ?", clickhouse.GroupSet{Value: set})
}

// anParts describes one query over a family in its three sources. The aggregate parts
// (daily and hourly tables) select aggSel(timeColumn) and group by aggGroup; the raw part
// reads rawCols (which must include the fact's id columns) plus h, the hour, from the
// fact's raw table, keeps one row per id, and applies rawSel and rawTail (an optional
// ARRAY JOIN and the GROUP BY).
type anParts struct {
	fam      *anFamily
	aggSel   func(timeCol string) string
	aggGroup string
	rawCols  string
	rawSel   string
	rawTail  string
	// anyCopy: the raw part may read every copy of an event (HyperLogLog sketches, which
	// duplicates cannot change), so it skips LIMIT 1 BY.
	anyCopy bool
}

// union appends the UNION ALL of the parts fp calls for.
func (a *Analytics) union(q *SQL, partner string, fp *anFamPlan, s anParts) {
	n := 0
	sep := func() {
		if n > 0 {
			q.Add(" UNION ALL ")
		}
		n++
	}
	switch {
	case s.fam.dailyBuilt && len(fp.dayBuilds) > 0:
		sep()
		lo, hi := buildSpan(fp.dayBuilds, 24*time.Hour)
		q.Add("SELECT "+s.aggSel("day")+" FROM "+a.t(s.fam.daily)+" WHERE partner_id = ? AND day >= ? AND day < ? AND (toUInt32(day), build) IN ?",
			partner, lo, hi, buildPairs(fp.dayBuilds))
		q.Add(" GROUP BY " + s.aggGroup)
	case !s.fam.dailyBuilt && len(fp.days) > 0:
		sep()
		q.Add("SELECT "+s.aggSel("day")+" FROM "+a.t(s.fam.daily)+" WHERE partner_id = ? AND ", partner)
		q.spanCond("day", fp.days)
		q.Add(" GROUP BY " + s.aggGroup)
	}
	switch {
	case s.fam.hourlyBuilt && len(fp.hourBuilds) > 0:
		sep()
		lo, hi := buildSpan(fp.hourBuilds, time.Hour)
		q.Add("SELECT "+s.aggSel("hour")+" FROM "+a.t(s.fam.hourly)+" WHERE partner_id = ? AND hour >= ? AND hour < ? AND (toUInt32(hour), build) IN ?",
			partner, lo, hi, buildPairs(fp.hourBuilds))
		q.Add(" GROUP BY " + s.aggGroup)
	case !s.fam.hourlyBuilt && fp.dayHours()+len(fp.raw.hours) < fp.r.Hours():
		sep()
		q.Add("SELECT "+s.aggSel("hour")+" FROM "+a.t(s.fam.hourly)+" WHERE partner_id = ? AND hour >= ? AND hour < ?", partner, fp.r.From, fp.r.To)
		if len(fp.days) > 0 {
			q.Add(" AND NOT ")
			q.spanCond("hour", fp.days)
		}
		if len(fp.raw.hours) > 0 {
			q.Add(" AND NOT ")
			q.hoursCond("hour", fp.raw, a.Cfg.MaxRawIntervals)
		}
		q.Add(" GROUP BY " + s.aggGroup)
	}
	if len(fp.raw.hours) > 0 {
		sep()
		spans := fp.raw.spans
		q.Add("SELECT "+s.rawSel+" FROM (SELECT "+s.rawCols+", toStartOfHour(ts, 'UTC') AS h FROM "+a.t(s.fam.fact.table)+
			" WHERE partner_id = ? AND ts >= ? AND ts < ? AND ", partner, spans[0].From, spans[len(spans)-1].To)
		q.hoursCond("ts", fp.raw, a.Cfg.MaxRawIntervals)
		if !s.anyCopy {
			q.Add(" LIMIT 1 BY " + s.fam.fact.id)
		}
		q.Add(") " + s.rawTail)
	}
	if n == 0 {
		// An empty range: a part that reads nothing keeps the SQL valid.
		q.Add("SELECT "+s.aggSel("hour")+" FROM "+a.t(s.fam.hourly)+" WHERE partner_id = ? AND 0 GROUP BY "+s.aggGroup, partner)
	}
}

// buildSpan returns the span from the first to the end of the last period of builds, so
// a read of built rows uses the table's sort key.
func buildSpan(builds map[uint32]uint64, period time.Duration) (from, to time.Time) {
	lo, hi := uint32(math.MaxUint32), uint32(0)
	for k := range builds {
		lo, hi = min(lo, k), max(hi, k)
	}
	return time.Unix(int64(lo), 0).UTC(), time.Unix(int64(hi), 0).UTC().Add(period)
}

// buildPairs binds (period start, build) pairs for a tuple IN: "((h, b), ...)".
func buildPairs(builds map[uint32]uint64) clickhouse.GroupSet {
	keys := slices.Sorted(maps.Keys(builds))
	set := make([]any, len(keys))
	for i, k := range keys {
		set[i] = clickhouse.GroupSet{Value: []any{k, builds[k]}}
	}
	return clickhouse.GroupSet{Value: set}
}
