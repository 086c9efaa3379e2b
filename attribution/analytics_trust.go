package attribution

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The seal check: an aggregate's hour of a partner is read from the aggregate only when
// its row count equals a distinct-id count the sealer measured on the raw table.
//
// Why that is exact: let n be the aggregate's rows for the hour now, d the distinct ids in
// the raw table now and e a sealed count. Every raw insert also passes through the view
// (an insert whose view write fails is failed and retried by the writer), so n >= d; rows
// are never deleted, so d >= e. n == e therefore forces n == d: no row was counted twice
// and none is missing. Anything else (the open hour, a late arrival, an hour a retried
// batch duplicated) is read from raw rows, keeping one row per id.

// anFact is a raw table and what identifies one of its events.
type anFact struct {
	name  string // analytics_seals.fact
	table string
	id    string // SQL expression of the event's identity
}

var (
	factClicks      = &anFact{"clicks", "clicks", "click_id"}
	factImpressions = &anFact{"impressions", "impressions", "impression_id"}
	// A conversion's identity is its idempotency key (per type) when it has one: a
	// producer that re-emits a commission under a new event id is still counted once.
	factConversions = &anFact{"conversions", "conversions", "if(idempotency_key = '', event_id, concat(type, ':', idempotency_key))"}
	analyticsFacts  = []*anFact{factClicks, factImpressions, factConversions}
)

// anAgg is a per-hour aggregate fed by a view of fact's raw table.
type anAgg struct {
	table string
	fact  *anFact
	rows  string // SQL: the raw rows one hour of this aggregate counts
	where string // SQL: filter for the row count, "" for none
}

var (
	aggClicks      = &anAgg{"clicks_hourly", factClicks, "sum(clicks)", ""}
	aggClickDims   = &anAgg{"clicks_dims_hourly", factClicks, "sum(clicks)", "dim = 'source'"}
	aggImpressions = &anAgg{"impressions_hourly", factImpressions, "sum(impressions)", ""}
	aggConversions = &anAgg{"conversions_hourly", factConversions, "sum(events)", ""}
)

// primaryAgg is the aggregate whose row count the sealer records for a fact.
func primaryAgg(f *anFact) *anAgg {
	switch f {
	case factImpressions:
		return aggImpressions
	case factConversions:
		return aggConversions
	}
	return aggClicks
}

// anSpan is a run of whole hours [from, to).
type anSpan struct{ from, to time.Time }

// anPlan says, per aggregate, which hours of the range come from raw rows.
type anPlan struct {
	r   AnalyticsRange
	raw map[*anAgg]anRaw
}

// anRaw is a set of hours, as sorted Unix hour starts and as runs of neighbours.
type anRaw struct {
	hours []uint32
	spans []anSpan
}

// rawHours counts the hours read from raw rows, for the response's meta.
func (p *anPlan) rawHours(agg *anAgg) int { return len(p.raw[agg].hours) }

type sealVal struct{ exact, rows uint64 }

// plan runs the seal check for partner over r and the given aggregates, and nudges the
// sealer about closed hours it has not measured in their current state.
func (a *Analytics) plan(ctx context.Context, partner string, r AnalyticsRange, aggs ...*anAgg) (*anPlan, error) {
	var q anSQL
	facts := map[*anFact]bool{}
	for i, g := range aggs {
		if i > 0 {
			q.add(" UNION ALL ")
		}
		q.add("SELECT '"+g.table+"' AS t, toUInt32(hour) AS h, toUInt64("+g.rows+") AS n, toUInt64(0) AS r FROM "+a.t(g.table)+
			" WHERE partner_id = ? AND hour >= ? AND hour < ?", partner, r.From, r.To)
		if g.where != "" {
			q.add(" AND " + g.where)
		}
		q.add(" GROUP BY hour")
		facts[g.fact] = true
	}
	var names []string
	for f := range facts {
		names = append(names, "'"+f.name+"'")
	}
	sort.Strings(names)
	q.add(" UNION ALL SELECT concat('seal:', fact) AS t, toUInt32(hour) AS h, argMax(exact, sealed_at) AS n, argMax(rows, sealed_at) AS r FROM "+
		a.t("analytics_seals")+" WHERE partner_id = ? AND fact IN ("+strings.Join(names, ", ")+") AND hour >= ? AND hour < ? GROUP BY fact, hour",
		partner, r.From, r.To)

	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	rows, err := a.conn.Query(qctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("cannot check aggregate seals: %w", err)
	}
	defer rows.Close()
	counts := map[string]map[uint32]uint64{}
	seals := map[string]map[uint32]sealVal{}
	for rows.Next() {
		var (
			t    string
			h    uint32
			n, x uint64
		)
		if err := rows.Scan(&t, &h, &n, &x); err != nil {
			return nil, fmt.Errorf("cannot read aggregate seals: %w", err)
		}
		if fact, ok := strings.CutPrefix(t, "seal:"); ok {
			if seals[fact] == nil {
				seals[fact] = map[uint32]sealVal{}
			}
			seals[fact][h] = sealVal{exact: n, rows: x}
			continue
		}
		if counts[t] == nil {
			counts[t] = map[uint32]uint64{}
		}
		counts[t][h] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read aggregate seals: %w", err)
	}

	p := &anPlan{r: r, raw: map[*anAgg]anRaw{}}
	closedBefore := a.cfg.Now().Add(-a.cfg.Sealer.Grace)
	var nudge []uint32
	for _, g := range aggs {
		var bad []uint32
		for h, n := range counts[g.table] {
			s, ok := seals[g.fact.name][h]
			if ok && s.exact == n {
				continue
			}
			bad = append(bad, h)
			// Ask the sealer about a closed hour it has not seen in this state.
			if primaryAgg(g.fact) == g && time.Unix(int64(h)+3600, 0).Before(closedBefore) && (!ok || s.rows != n) {
				nudge = append(nudge, h)
			}
		}
		if len(bad) == 0 {
			continue
		}
		analyticsRawHours.WithLabelValues(g.table).Add(float64(len(bad)))
		p.raw[g] = anRaw{hours: bad, spans: hoursToSpans(bad)}
	}
	if len(nudge) > 0 {
		a.sealer.nudge(partner, nudge)
	}
	return p, nil
}

// hoursToSpans sorts Unix hour starts and merges neighbours into runs.
func hoursToSpans(hours []uint32) []anSpan {
	sort.Slice(hours, func(i, j int) bool { return hours[i] < hours[j] })
	var out []anSpan
	for _, h := range hours {
		t := time.Unix(int64(h), 0).UTC()
		if n := len(out); n > 0 && out[n-1].to.Equal(t) {
			out[n-1].to = t.Add(time.Hour)
			continue
		}
		out = append(out, anSpan{t, t.Add(time.Hour)})
	}
	return out
}

// anSQL builds a query from constant text and bound arguments. Request values only ever
// enter through args, which clickhouse-go binds with quoting.
type anSQL struct {
	b    strings.Builder
	args []any
}

func (q *anSQL) add(s string, args ...any) {
	q.b.WriteString(s)
	q.args = append(q.args, args...)
}

func (q *anSQL) String() string { return q.b.String() }

// hoursCond appends a filter keeping the hours of raw for DateTime column col: runs of
// hours as ranges when there are few (the usual hot tail), else a list of hour starts.
func (q *anSQL) hoursCond(col string, raw anRaw, maxRuns int) {
	if len(raw.spans) > maxRuns {
		set := make([]any, len(raw.hours))
		for i, h := range raw.hours {
			set[i] = h
		}
		q.add("intDiv(toUInt32("+col+"), 3600) * 3600 IN ?", clickhouse.GroupSet{Value: set})
		return
	}
	q.add("(")
	for i, s := range raw.spans {
		if i > 0 {
			q.add(" OR ")
		}
		q.add("("+col+" >= ? AND "+col+" < ?)", s.from, s.to)
	}
	q.add(")")
}

// aggWhere appends the filter for the aggregate part of a query: the partner, the range,
// and not the raw hours. It reports false when every hour of the range is raw.
func (q *anSQL) aggWhere(partner string, p *anPlan, agg *anAgg, maxRuns int) bool {
	raw := p.raw[agg]
	if len(raw.hours) >= p.r.Hours() {
		return false
	}
	q.add(" WHERE partner_id = ? AND hour >= ? AND hour < ?", partner, p.r.From, p.r.To)
	if len(raw.hours) > 0 {
		q.add(" AND NOT ")
		q.hoursCond("hour", raw, maxRuns)
	}
	return true
}

// rawWhere appends the filter for the raw part: the partner and the raw hours. It
// reports false when no hour is raw.
func (q *anSQL) rawWhere(partner string, p *anPlan, agg *anAgg, maxRuns int) bool {
	raw := p.raw[agg]
	if len(raw.hours) == 0 {
		return false
	}
	q.add(" WHERE partner_id = ? AND ts >= ? AND ts < ? AND ", partner, raw.spans[0].from, raw.spans[len(raw.spans)-1].to)
	q.hoursCond("ts", raw, maxRuns)
	return true
}
