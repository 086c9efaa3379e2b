package analytics

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// The seal check. An aggregate's day or hour of a partner is read from the aggregate only
// when the aggregate's row count for it equals the distinct-id count the sealer measured
// on the raw table (summed over the day's hours for a day).
//
// Why that is exact: let n be the aggregate's rows for the period now, d the distinct ids
// in the raw table now and e a sealed count (or sum of sealed counts). Every raw insert
// also passes through the view once it succeeds (an insert whose view write fails returns
// an error, though ClickHouse keeps its raw rows, and the writer retries it until it
// succeeds; docs/analytics.md has the limit), so n >= d; rows are never deleted and counts only grow, so d >= e. n == e
// therefore forces n == d: no row was counted twice and none is missing. Anything else
// (the open hour, a late arrival, an hour a retried batch duplicated) is read one tier
// finer: a day from its hours, an hour from raw rows with one row per id.

// anFact is a raw table and what identifies one of its events.
type anFact struct {
	name  string // analytics_seals.fact
	table string
	id    string // SQL expression list of the event's identity, for uniqExact() and LIMIT 1 BY
}

var (
	factClicks      = &anFact{"clicks", "clicks", "click_id"}
	factImpressions = &anFact{"impressions", "impressions", "impression_id"}
	// A conversion's identity is its type and idempotency key when it has one: a producer
	// that re-emits a commission under a new event id is still counted once.
	factConversions = &anFact{"conversions", "conversions", "type, idempotency_key, if(idempotency_key = '', event_id, '')"}
	analyticsFacts  = []*anFact{factClicks, factImpressions, factConversions}
)

// anFamily is an aggregate kept in two tiers, <name>_hourly and <name>_daily, fed by
// views of one fact's raw table.
type anFamily struct {
	name  string
	fact  *anFact
	rows  string // SQL: the raw rows a group of this aggregate counts
	where string // SQL: filter for the row count, "" for none
}

var (
	famClicks      = &anFamily{"clicks", factClicks, "sum(clicks)", ""}
	famClickDims   = &anFamily{"clicks_dims", factClicks, "sum(clicks)", "dim = 'source'"}
	famImpressions = &anFamily{"impressions", factImpressions, "sum(impressions)", ""}
	famConversions = &anFamily{"conversions", factConversions, "sum(events)", ""}
	// famVisitors holds HyperLogLog sketches, which duplicates cannot inflate: it is
	// always read from the aggregates.
	famVisitors = &anFamily{name: "visitors"}
)

func (f *anFamily) hourly() string { return f.name + "_hourly" }
func (f *anFamily) daily() string  { return f.name + "_daily" }

// primaryFamily is the aggregate whose hourly row count the sealer records for a fact.
func primaryFamily(f *anFact) *anFamily {
	switch f {
	case factImpressions:
		return famImpressions
	case factConversions:
		return famConversions
	}
	return famClicks
}

// anSpan is a run of time [from, to).
type anSpan struct{ From, To time.Time }

// anRaw is a set of hours, as sorted Unix hour starts and as runs of neighbours.
type anRaw struct {
	hours []uint32
	spans []anSpan
}

// anFamPlan says where each part of the range comes from for one family: whole days
// from the daily table, hours in raw from raw rows, the rest from the hourly table.
type anFamPlan struct {
	r    Range
	days []anSpan
	raw  anRaw
}

func (fp *anFamPlan) dayHours() int {
	n := 0
	for _, s := range fp.days {
		n += int(s.To.Sub(s.From) / time.Hour)
	}
	return n
}

// anReq asks for a family's plan; daily lets whole days come from the daily table.
type anReq struct {
	fam   *anFamily
	daily bool
}

// anPlan holds the plans of one request.
type anPlan struct {
	r     Range
	plans map[anReq]*anFamPlan
}

func (p *anPlan) get(f *anFamily, daily bool) *anFamPlan { return p.plans[anReq{f, daily}] }

// meta reports raw hours and aggregate days per family, for the response.
func (p *anPlan) meta() (raw, days map[string]int) {
	raw, days = map[string]int{}, map[string]int{}
	for q, fp := range p.plans {
		if q.fam == famVisitors {
			continue
		}
		raw[q.fam.name] = max(raw[q.fam.name], len(fp.raw.hours))
		days[q.fam.name] = max(days[q.fam.name], len(fp.days))
	}
	return raw, days
}

type sealVal struct{ exact, rows uint64 }

// wholeDays returns the UTC days inside r.
func wholeDays(r Range) (from, to time.Time) {
	from = AnalyticsDay.Floor(r.From)
	if from.Before(r.From) {
		from = from.AddDate(0, 0, 1)
	}
	to = AnalyticsDay.Floor(r.To)
	if to.Before(from) {
		to = from
	}
	return from, to
}

// planCounts are the row counts and seals one plan needs.
type planCounts struct {
	hourly map[string]map[uint32]uint64 // family -> hour -> rows
	daily  map[string]map[uint32]uint64 // family -> day -> rows
	seals  map[string]map[uint32]sealVal
}

// plan runs the seal check for partner over r for reqs, and nudges the sealer about
// closed hours it has not measured in their current state.
func (a *Analytics) plan(ctx context.Context, partner string, r Range, reqs ...anReq) (*anPlan, error) {
	dayFrom, dayTo := wholeDays(r)
	allHours := map[*anFamily]bool{}
	useDaily := map[*anFamily]bool{}
	facts := map[*anFact]bool{}
	for _, q := range reqs {
		if q.fam == famVisitors {
			continue
		}
		facts[q.fam.fact] = true
		if q.daily && dayFrom.Before(dayTo) {
			useDaily[q.fam] = true
		} else {
			allHours[q.fam] = true
		}
	}
	// Round one: daily counts of whole days, hourly counts of every hour a plan may read
	// hourly (all of them, or only the partial days at the edges), and the seals.
	var q SQL
	parts := 0
	union := func() {
		if parts > 0 {
			q.Add(" UNION ALL ")
		}
		parts++
	}
	hourlyPart := func(f *anFamily, spans []anSpan) {
		union()
		q.Add("SELECT 'h:"+f.name+"' AS t, toUInt32(hour) AS h, toUInt64("+f.rows+") AS n, toUInt64(0) AS r FROM "+a.t(f.hourly())+
			" WHERE partner_id = ? AND ", partner)
		q.spanCond("hour", spans)
		if f.where != "" {
			q.Add(" AND " + f.where)
		}
		q.Add(" GROUP BY hour")
	}
	for _, f := range sortedFamilies(useDaily, allHours) {
		if useDaily[f] {
			union()
			q.Add("SELECT 'd:"+f.name+"' AS t, toUInt32(day) AS h, toUInt64("+f.rows+") AS n, toUInt64(0) AS r FROM "+a.t(f.daily())+
				" WHERE partner_id = ? AND day >= ? AND day < ?", partner, dayFrom, dayTo)
			if f.where != "" {
				q.Add(" AND " + f.where)
			}
			q.Add(" GROUP BY day")
		}
		switch {
		case allHours[f]:
			hourlyPart(f, []anSpan{{r.From, r.To}})
		case useDaily[f]:
			if edges := edgeSpans(r, dayFrom, dayTo); len(edges) > 0 {
				hourlyPart(f, edges)
			}
		}
	}
	if len(facts) > 0 {
		var names []string
		for f := range facts {
			names = append(names, "'"+f.name+"'")
		}
		sort.Strings(names)
		// Live seals: the sealer has not reached the newest hours yet, so measure them
		// now. A measurement taken now is as good a fact as a stored seal, and it lets the
		// hot tail come from the aggregates too instead of from raw rows.
		if hot := a.hotSpan(r); hot.From.Before(hot.To) {
			for _, f := range analyticsFacts {
				if facts[f] {
					union()
					q.Add("SELECT 'l:"+f.name+"' AS t, toUInt32(toStartOfHour(ts, 'UTC')) AS h, toUInt64(uniqExact("+f.id+")) AS n, toUInt64(0) AS r FROM "+
						a.t(f.table)+" WHERE partner_id = ? AND ts >= ? AND ts < ? GROUP BY h", partner, hot.From, hot.To)
				}
			}
		}
		union()
		q.Add("SELECT concat('s:', fact) AS t, toUInt32(hour) AS h, max(exact) AS n, max(rows) AS r FROM "+a.t("analytics_seals")+
			" WHERE partner_id = ? AND fact IN ("+strings.Join(names, ", ")+") AND hour >= ? AND hour < ? GROUP BY fact, hour",
			partner, r.From, r.To)
	}
	pc := &planCounts{hourly: map[string]map[uint32]uint64{}, daily: map[string]map[uint32]uint64{}, seals: map[string]map[uint32]sealVal{}}
	if parts > 0 {
		if err := a.readPlanCounts(ctx, q, pc); err != nil {
			return nil, err
		}
	}

	// Whole days the daily table vouches for; the hours of the others need their hourly
	// counts, which round one did not read. Loops run over the days and hours that have
	// rows or seals, never over the whole range.
	p := &anPlan{r: r, plans: map[anReq]*anFamPlan{}}
	dayLo, dayHi := uint32(dayFrom.Unix()), uint32(dayTo.Unix())
	badDays := map[*anFamily][]uint32{}
	var more SQL
	moreParts := 0
	for _, f := range sortedFamilies(useDaily, nil) {
		sealed := map[uint32]uint64{}
		for h, v := range pc.seals[f.fact.name] {
			sealed[h-h%86400] += v.exact
		}
		cand := map[uint32]bool{}
		for d := range pc.daily[f.name] {
			cand[d] = true
		}
		for d := range sealed {
			cand[d] = true
		}
		var bad []uint32
		for d := range cand {
			if d >= dayLo && d < dayHi && pc.daily[f.name][d] != sealed[d] {
				bad = append(bad, d)
			}
		}
		sort.Slice(bad, func(i, j int) bool { return bad[i] < bad[j] })
		badDays[f] = bad
		if len(bad) > 0 && !allHours[f] {
			if moreParts > 0 {
				more.Add(" UNION ALL ")
			}
			moreParts++
			more.Add("SELECT 'h:"+f.name+"' AS t, toUInt32(hour) AS h, toUInt64("+f.rows+") AS n, toUInt64(0) AS r FROM "+a.t(f.hourly())+
				" WHERE partner_id = ? AND ", partner)
			more.spanCond("hour", daySpans(bad))
			if f.where != "" {
				more.Add(" AND " + f.where)
			}
			more.Add(" GROUP BY hour")
		}
	}
	if moreParts > 0 {
		if err := a.readPlanCounts(ctx, more, pc); err != nil {
			return nil, err
		}
	}

	closedBefore := uint32(a.Cfg.Now().Add(-a.Cfg.Sealer.Grace).Unix())
	lo, hi := uint32(r.From.Unix()), uint32(r.To.Unix())
	nudge := map[uint32]bool{}
	for _, req := range reqs {
		fp := &anFamPlan{r: r}
		p.plans[req] = fp
		f := req.fam
		if f == famVisitors {
			if req.daily && dayFrom.Before(dayTo) {
				fp.days = []anSpan{{dayFrom, dayTo}}
			}
			continue
		}
		daily := req.daily && useDaily[f]
		bad := map[uint32]bool{}
		if daily {
			for _, d := range badDays[f] {
				bad[d] = true
			}
			fp.days = complementDays(dayFrom, dayTo, badDays[f])
		}
		inDay := func(h uint32) bool { return daily && h >= dayLo && h < dayHi && !bad[h-h%86400] }
		seals := pc.seals[f.fact.name]
		cand := map[uint32]bool{}
		for h := range pc.hourly[f.name] {
			cand[h] = true
		}
		for h := range seals {
			cand[h] = true
		}
		var raw []uint32
		for h := range cand {
			if h < lo || h >= hi || inDay(h) {
				continue
			}
			n := pc.hourly[f.name][h]
			s, sealed := seals[h]
			if n == s.exact {
				continue
			}
			raw = append(raw, h)
			if primaryFamily(f.fact) == f && n > 0 && h+3600 < closedBefore && (!sealed || s.rows != n) {
				nudge[h] = true
			}
		}
		if len(raw) > 0 {
			analyticsRawHours.WithLabelValues(f.name).Add(float64(len(raw)))
			fp.raw = anRaw{hours: raw, spans: HoursToSpans(raw)}
		}
	}
	if len(nudge) > 0 {
		a.sealer.nudge(partner, slices.Collect(maps.Keys(nudge)))
	}
	return p, nil
}

func (a *Analytics) readPlanCounts(ctx context.Context, q SQL, pc *planCounts) error {
	return a.each(ctx, q, func(scan func(...any) error) error {
		var (
			t    string
			h    uint32
			n, x uint64
		)
		if err := scan(&t, &h, &n, &x); err != nil {
			return fmt.Errorf("cannot read aggregate seals: %w", err)
		}
		kind, name, _ := strings.Cut(t, ":")
		var m map[string]map[uint32]uint64
		switch kind {
		case "s", "l": // a stored seal, a live one: the larger count is the newer
			if pc.seals[name] == nil {
				pc.seals[name] = map[uint32]sealVal{}
			}
			v := pc.seals[name][h]
			if kind == "s" {
				v.rows = x
			}
			v.exact = max(v.exact, n)
			pc.seals[name][h] = v
			return nil
		case "d":
			m = pc.daily
		default:
			m = pc.hourly
		}
		if m[name] == nil {
			m[name] = map[uint32]uint64{}
		}
		m[name][h] = n
		return nil
	})
}

// hotSpan is the part of r the background sealer has not sealed yet: hours ending less
// than its grace plus two intervals ago.
func (a *Analytics) hotSpan(r Range) anSpan {
	now := a.Cfg.Now().UTC()
	from := now.Add(-a.Cfg.Sealer.Grace - 2*a.Cfg.Sealer.Interval).Truncate(time.Hour)
	to := now.Truncate(time.Hour).Add(time.Hour)
	if from.Before(r.From) {
		from = r.From
	}
	if to.After(r.To) {
		to = r.To
	}
	return anSpan{from, to}
}

// sortedFamilies lists the families in either set in a fixed order.
func sortedFamilies(a, b map[*anFamily]bool) []*anFamily {
	var out []*anFamily
	for _, f := range []*anFamily{famClicks, famClickDims, famImpressions, famConversions} {
		if a[f] || b[f] {
			out = append(out, f)
		}
	}
	return out
}
