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

// The seal check. Every click and impression insert feeds one live counter (clicks_hourly,
// impressions_hourly: a view counting rows per partner and hour, no ARRAY JOIN); the
// sealer builds every other aggregate of a closed hour or day from raw rows, one row per
// event id, under a build id, and seals (partner, hour or day, fact, count e, build b)
// after checking that the build landed exactly once. Conversions keep the views of
// 0003_analytics.sql and are sealed as before (without a build).
//
// Why reading a build is exact: let n be the live counter's rows for the period now, d
// the distinct ids in the raw table now and e a seal's count. The counter's view sees
// every raw insert once it succeeds (an insert whose view write fails returns an error,
// though ClickHouse keeps its raw rows, and the writer retries it until it succeeds;
// docs/analytics.md has the limit), so n >= d; rows are never deleted and counts only
// grow, so d >= e. n == e therefore forces d == e: the raw table holds exactly the e
// events the build was made of, each once. A live table (clicks_hourly) is read when n
// equals any seal's e (it then holds no duplicate); a built table only through the build
// of a seal whose e equals n. Anything else (the open hour, a late arrival, an hour a
// retried batch duplicated) is read one tier finer: a day from its hours, an hour from
// raw rows with one row per id.

// anFact is a raw table and what identifies one of its events.
type anFact struct {
	name  string // analytics_seals.fact of its hours; name + "_day" of its days
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

// daySeal is the analytics_seals.fact of f's days.
func (f *anFact) daySeal() string { return f.name + "_day" }

// anFamily is an aggregate kept in an hourly and a daily table. A table is either live
// (a view of the raw table feeds it; rows counts its raw rows per group) or built (the
// sealer writes it under build ids, and it is read only through a seal's build).
type anFamily struct {
	name        string
	fact        *anFact
	hourly      string
	daily       string
	rows        string // SQL over a live table: the raw rows a group counts
	hourlyBuilt bool
	dailyBuilt  bool
}

var (
	famClicks      = &anFamily{"clicks", factClicks, "clicks_hourly", "clicks_daily_built", "sum(clicks)", false, true}
	famClickDims   = &anFamily{"clicks_dims", factClicks, "clicks_dims_hourly_built", "clicks_dims_daily_built", "", true, true}
	famVisitors    = &anFamily{"visitors", factClicks, "visitors_hourly_built", "visitors_daily_built", "", true, true}
	famImpressions = &anFamily{"impressions", factImpressions, "impressions_hourly", "impressions_daily_built", "sum(impressions)", false, true}
	famConversions = &anFamily{"conversions", factConversions, "conversions_hourly", "conversions_daily", "sum(events)", false, false}
)

// liveFamily is the family whose hourly table counts a fact's raw inserts: the live
// counter of the seal check.
func liveFamily(f *anFact) *anFamily {
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
// from the daily table, hours in raw from raw rows, the rest from the hourly table. For
// built tables, dayBuilds and hourBuilds name the build each day or hour is read from.
type anFamPlan struct {
	r          Range
	days       []anSpan
	dayBuilds  map[uint32]uint64
	hourBuilds map[uint32]uint64
	raw        anRaw
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

// sealVal is what the seals say about one hour or day: the largest count measured
// (exact), the live rows seen then (rows), and a build of that period with its count.
type sealVal struct {
	exact, rows       uint64
	build, buildExact uint64
}

// add folds one seal (or live measurement, build 0) into v. Counts only grow, so a build
// whose count is below the largest can never match the live counter again and is dropped.
func (v sealVal) add(exact, rows, build uint64) sealVal {
	v.rows = max(v.rows, rows)
	if exact > v.exact {
		v.exact = exact
		if v.buildExact < exact {
			v.build, v.buildExact = 0, 0
		}
	}
	if build != 0 && exact == v.exact && build > v.build {
		v.build, v.buildExact = build, exact
	}
	return v
}

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

// planCounts are the live counts and seals one plan needs.
type planCounts struct {
	live  map[string]map[uint32]uint64 // fact -> hour -> live rows
	daily map[string]map[uint32]uint64 // live daily family (conversions) -> day -> rows
	seals map[string]map[uint32]sealVal
}

// plan runs the seal check for partner over r for reqs, and nudges the sealer about
// closed hours it has not measured in their current state.
func (a *Analytics) plan(ctx context.Context, partner string, r Range, reqs ...anReq) (*anPlan, error) {
	dayFrom, dayTo := wholeDays(r)
	hasDays := dayFrom.Before(dayTo)
	facts := map[*anFact]bool{}
	liveDaily := map[*anFamily]bool{}  // live daily tables whose day counts are needed
	hourlyNeeded := map[*anFact]bool{} // facts some plan needs every hour's live count of
	for _, q := range reqs {
		facts[q.fam.fact] = true
		if q.daily && hasDays && !q.fam.dailyBuilt {
			liveDaily[q.fam] = true
		} else {
			hourlyNeeded[q.fam.fact] = true
		}
	}
	// One query: the live counters of every hour of r, the day counts of live daily
	// tables, the live seals of the hot tail, and the stored seals.
	var q SQL
	parts := 0
	union := func() {
		if parts > 0 {
			q.Add(" UNION ALL ")
		}
		parts++
	}
	var names []string
	for _, f := range analyticsFacts {
		if !facts[f] {
			continue
		}
		lf := liveFamily(f)
		// Only a live daily table's own plans need no hourly count inside its whole days,
		// unless a day fails its check (read below).
		spans := []anSpan{{r.From, r.To}}
		if !hourlyNeeded[f] {
			spans = edgeSpans(r, dayFrom, dayTo)
		}
		if len(spans) > 0 {
			union()
			q.Add("SELECT 'h:"+f.name+"' AS t, toUInt32(hour) AS h, toUInt64("+lf.rows+") AS n, toUInt64(0) AS r, toUInt64(0) AS b FROM "+a.t(lf.hourly)+
				" WHERE partner_id = ? AND ", partner)
			q.spanCond("hour", spans)
			q.Add(" GROUP BY hour")
		}
		if liveDaily[lf] {
			union()
			q.Add("SELECT 'd:"+f.name+"' AS t, toUInt32(day) AS h, toUInt64("+lf.rows+") AS n, toUInt64(0) AS r, toUInt64(0) AS b FROM "+a.t(lf.daily)+
				" WHERE partner_id = ? AND day >= ? AND day < ? GROUP BY day", partner, dayFrom, dayTo)
		}
		names = append(names, "'"+f.name+"'", "'"+f.daySeal()+"'")
	}
	// Live seals: the sealer has not reached the newest hours yet, so measure them now. A
	// measurement taken now is as good a fact as a stored seal, and it lets the hot tail
	// come from the live tables too instead of from raw rows.
	if hot := a.hotSpan(r); hot.From.Before(hot.To) {
		for _, f := range analyticsFacts {
			if facts[f] {
				union()
				q.Add("SELECT 'l:"+f.name+"' AS t, toUInt32(toStartOfHour(ts, 'UTC')) AS h, toUInt64(uniqExact("+f.id+")) AS n, toUInt64(0) AS r, toUInt64(0) AS b FROM "+
					a.t(f.table)+" WHERE partner_id = ? AND ts >= ? AND ts < ? GROUP BY h", partner, hot.From, hot.To)
			}
		}
	}
	union()
	q.Add("SELECT concat('s:', fact) AS t, toUInt32(hour) AS h, exact AS n, rows AS r, build AS b FROM "+a.t("analytics_seals")+
		" WHERE partner_id = ? AND fact IN ("+strings.Join(names, ", ")+") AND hour >= ? AND hour < ?", partner, r.From, r.To)
	pc := &planCounts{live: map[string]map[uint32]uint64{}, daily: map[string]map[uint32]uint64{}, seals: map[string]map[uint32]sealVal{}}
	if err := a.readPlanCounts(ctx, q, pc); err != nil {
		return nil, err
	}

	// Days: a built day is read from its build when the day's live rows equal its seal; a
	// live daily table (conversions) when its rows equal the sum of its hours' seals.
	// Loops run over the days and hours that have rows or seals, never over the whole range.
	dayLo, dayHi := uint32(dayFrom.Unix()), uint32(dayTo.Unix())
	type dayTrust struct {
		bad    []uint32
		builds map[uint32]uint64
	}
	dayCheck := map[*anFamily]*dayTrust{}
	checkDays := func(f *anFamily) *dayTrust {
		if dt := dayCheck[f]; dt != nil {
			return dt
		}
		dt := &dayTrust{builds: map[uint32]uint64{}}
		dayCheck[f] = dt
		have, want := map[uint32]uint64{}, map[uint32]uint64{}
		cand := map[uint32]bool{}
		if f.dailyBuilt {
			for h, n := range pc.live[f.fact.name] {
				have[h-h%86400] += n
			}
			for d, s := range pc.seals[f.fact.daySeal()] {
				want[d] = s.buildExact
				if s.build != 0 {
					dt.builds[d] = s.build
				}
				cand[d] = true
			}
		} else {
			maps.Copy(have, pc.daily[f.fact.name])
			for h, s := range pc.seals[f.fact.name] {
				want[h-h%86400] += s.exact
			}
			maps.Copy(cand, mapKeys(want))
		}
		maps.Copy(cand, mapKeys(have))
		for d := range cand {
			if d < dayLo || d >= dayHi {
				continue
			}
			ok := have[d] == want[d]
			if f.dailyBuilt && have[d] > 0 {
				ok = ok && dt.builds[d] != 0
			}
			if !ok {
				dt.bad = append(dt.bad, d)
				delete(dt.builds, d)
			}
		}
		sort.Slice(dt.bad, func(i, j int) bool { return dt.bad[i] < dt.bad[j] })
		return dt
	}

	var more SQL
	moreParts := 0
	for _, f := range analyticsFacts {
		lf := liveFamily(f)
		if !facts[f] || hourlyNeeded[f] || !liveDaily[lf] {
			continue
		}
		if bad := checkDays(lf).bad; len(bad) > 0 {
			if moreParts > 0 {
				more.Add(" UNION ALL ")
			}
			moreParts++
			more.Add("SELECT 'h:"+f.name+"' AS t, toUInt32(hour) AS h, toUInt64("+lf.rows+") AS n, toUInt64(0) AS r, toUInt64(0) AS b FROM "+a.t(lf.hourly)+
				" WHERE partner_id = ? AND ", partner)
			more.spanCond("hour", daySpans(bad))
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
	p := &anPlan{r: r, plans: map[anReq]*anFamPlan{}}
	for _, req := range reqs {
		fp := &anFamPlan{r: r}
		p.plans[req] = fp
		f := req.fam
		daily := req.daily && hasDays
		bad := map[uint32]bool{}
		if daily {
			dt := checkDays(f)
			for _, d := range dt.bad {
				bad[d] = true
			}
			fp.days = complementDays(dayFrom, dayTo, dt.bad)
			if f.dailyBuilt {
				fp.dayBuilds = dt.builds
			}
		}
		inDay := func(h uint32) bool { return daily && h >= dayLo && h < dayHi && !bad[h-h%86400] }
		live, seals := pc.live[f.fact.name], pc.seals[f.fact.name]
		cand := mapKeys(live)
		maps.Copy(cand, mapKeys(seals))
		if f.hourlyBuilt {
			fp.hourBuilds = map[uint32]uint64{}
		}
		var raw []uint32
		for h := range cand {
			if h < lo || h >= hi || inDay(h) {
				continue
			}
			n, s := live[h], seals[h]
			switch {
			case n == 0 && s.exact == 0: // nothing was ever written
				continue
			case f.hourlyBuilt && s.build != 0 && s.buildExact == n:
				fp.hourBuilds[h] = s.build
				continue
			case !f.hourlyBuilt && s.exact == n:
				continue
			}
			raw = append(raw, h)
			_, sealed := seals[h]
			if n > 0 && h+3600 < closedBefore && (!sealed || s.rows != n || (f.fact == factClicks && s.build == 0)) {
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

// mapKeys returns m's keys as a set.
func mapKeys[V any](m map[uint32]V) map[uint32]bool {
	out := make(map[uint32]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func (a *Analytics) readPlanCounts(ctx context.Context, q SQL, pc *planCounts) error {
	return a.each(ctx, q, func(scan func(...any) error) error {
		var (
			t       string
			h       uint32
			n, x, b uint64
		)
		if err := scan(&t, &h, &n, &x, &b); err != nil {
			return fmt.Errorf("cannot read aggregate seals: %w", err)
		}
		kind, name, _ := strings.Cut(t, ":")
		var m map[string]map[uint32]uint64
		switch kind {
		case "s", "l": // a stored seal, a live one
			if pc.seals[name] == nil {
				pc.seals[name] = map[uint32]sealVal{}
			}
			pc.seals[name][h] = pc.seals[name][h].add(n, x, b)
			return nil
		case "d":
			m = pc.daily
		default:
			m = pc.live
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
