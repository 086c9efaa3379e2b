package analytics

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The sealer measures, for each partner and closed hour, how many distinct events the raw
// table holds, builds the hour's aggregates from raw rows under a new build id (build.go),
// and records the count, the live counter's rows it saw and the build in analytics_seals.
// Once a day has ended it builds and seals the day from its hours (sealDay). The API
// reads a build only when its seal's count equals the live counter (trust.go), so the
// sealer decides how much is read from aggregates, never what the figures are. It needs no coordination:
// several refedge processes may all run it, each writing its own builds and seals.
//
// Each pass looks at the last Lookback (48 h) of hours and measures only those whose live
// count changed since they were last sealed; the first pass also walks back Backfill, a
// day at a time. Requests nudge it about older hours they found unsealed. Superseded and
// abandoned builds stay in their tables (nothing reads them) until their month's
// partition is dropped.

type sealNudge struct {
	partner string
	hours   []uint32
}

type sealer struct {
	a       *Analytics
	nudges  chan sealNudge
	stopped chan struct{}
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	running bool
}

func newSealer(a *Analytics) *sealer {
	return &sealer{a: a, nudges: make(chan sealNudge, 64), stopped: make(chan struct{}), done: make(chan struct{})}
}

func (s *sealer) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.running = true
	go s.loop()
}

func (s *sealer) stop(ctx context.Context) error {
	s.once.Do(func() { close(s.stopped) })
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("analytics sealer did not stop: %w", ctx.Err())
	}
}

// nudge asks the sealer to measure hours of partner; it never waits.
func (s *sealer) nudge(partner string, hours []uint32) {
	select {
	case s.nudges <- sealNudge{partner, hours}:
	default:
	}
}

func (s *sealer) loop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	cfg := &s.a.Cfg.Sealer
	timer := time.NewTimer(rand.N(cfg.Interval/4 + 1))
	defer timer.Stop()
	backfilled := false
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-s.nudges:
			sort.Slice(n.hours, func(i, j int) bool { return n.hours[i] < n.hours[j] })
			from := time.Unix(int64(n.hours[0]), 0).UTC()
			to := time.Unix(int64(n.hours[len(n.hours)-1]), 0).UTC().Add(time.Hour)
			s.run(ctx, "nudge", func() error { return s.a.seal(ctx, []string{n.partner}, from, to) })
		case <-timer.C:
			now := s.a.Cfg.Now().UTC()
			end := now.Add(-cfg.Grace).Truncate(time.Hour)
			start := end.Add(-cfg.Lookback)
			s.run(ctx, "pass", func() error { return s.a.SealHours(ctx, start, end) })
			if !backfilled {
				// Day by day into the past; the first failure (ClickHouse down) ends this
				// pass's backfill, and the next pass starts it again.
				backfilled = true
				for c := start; c.After(start.Add(-cfg.Backfill)); c = c.Add(-24 * time.Hour) {
					if ctx.Err() != nil || !s.run(ctx, "backfill", func() error { return s.a.SealHours(ctx, c.Add(-24*time.Hour), c) }) {
						backfilled = false
						break
					}
				}
			}
			timer.Reset(cfg.Interval/2 + rand.N(cfg.Interval/2+1))
		}
	}
}

// run runs one step and reports whether it succeeded; a failure is counted and logged.
func (s *sealer) run(ctx context.Context, what string, fn func() error) bool {
	err := fn()
	if err != nil && ctx.Err() == nil {
		sealerErrors.Inc()
		s.a.log.Warn("analytics sealer failed; retrying next pass", "step", what, "err", err)
	}
	return err == nil
}

// SealHours measures every partner's hours in [from, to) whose aggregates changed since
// they were last sealed. The background sealer calls it; operators and tests may too.
func (a *Analytics) SealHours(ctx context.Context, from, to time.Time) error {
	return a.seal(ctx, nil, from.UTC().Truncate(time.Hour), to.UTC())
}

// seal runs sealChunk per fact over [from, to) a day at a time, then builds the days
// that overlap it and have ended (sealDays); partners nil means all.
func (a *Analytics) seal(ctx context.Context, partners []string, from, to time.Time) error {
	for c := from; c.Before(to); c = c.Add(24 * time.Hour) {
		end := c.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		for _, f := range analyticsFacts {
			if err := a.sealChunk(ctx, f, partners, c, end); err != nil {
				return err
			}
		}
	}
	ended := a.Cfg.Now().UTC().Add(-a.Cfg.Sealer.Grace)
	for d := AnalyticsDay.Floor(from); d.Before(to); d = d.AddDate(0, 0, 1) {
		if d.AddDate(0, 0, 1).After(ended) {
			break
		}
		for _, f := range []*anFact{factClicks, factImpressions} {
			if err := a.sealDay(ctx, f, partners, d); err != nil {
				return err
			}
		}
	}
	return nil
}

type sealKey struct {
	partner string
	hour    uint32
}

// sealerPartnerBatch bounds partner ids per exact-count query and hour build;
// sealerDayBatch partners per day build, whose query lists each partner's hours' builds
// (up to 24 triples each: a few kB per partner, well inside ClickHouse's 256 kB
// max_query_size).
const (
	sealerPartnerBatch = 200
	sealerDayBatch     = 50
)

// sealChunk seals the hours of [from, to) whose live count changed since their last seal
// (for clicks: since their last seal with a build). For clicks it builds the hours'
// breakdowns and visitor sketches first and names the build in the seal when it landed
// exactly once; otherwise the seal carries no build and the next pass builds again.
func (a *Analytics) sealChunk(ctx context.Context, f *anFact, partners []string, from, to time.Time) error {
	live := liveFamily(f)
	cond := ""
	args := []any{from, to}
	if partners != nil {
		cond = " AND partner_id IN ?"
		args = append(args, groupSet(partners))
	}
	rowsNow, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32(hour), toUInt64("+live.rows+") FROM "+a.t(live.hourly)+
		" WHERE hour >= ? AND hour < ?"+cond+" GROUP BY partner_id, hour", args...)
	if err != nil {
		return fmt.Errorf("cannot read %s row counts: %w", live.hourly, err)
	}
	if len(rowsNow) == 0 {
		return nil
	}
	builds := f == factClicks
	sealedCond := ""
	if builds {
		sealedCond = " AND build != 0"
	}
	sealed, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32(hour), max(rows) FROM "+a.t("analytics_seals")+
		" WHERE fact = ?"+sealedCond+" AND hour >= ? AND hour < ?"+cond+" GROUP BY partner_id, hour", append([]any{f.name}, args...)...)
	if err != nil {
		return fmt.Errorf("cannot read seals of %s: %w", f.name, err)
	}
	byPartner := map[string][]uint32{}
	for k, n := range rowsNow {
		if r, ok := sealed[k]; !ok || r != n {
			byPartner[k.partner] = append(byPartner[k.partner], k.hour)
		}
	}
	if len(byPartner) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(byPartner))
	now := a.Cfg.Now().UTC().Truncate(time.Second)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), sealerPartnerBatch)]
		ids = ids[len(batch):]
		// The exact count first, then the build: the build reads a later snapshot, so it
		// holds at least these events, and equal counts prove it holds exactly them, once.
		exact, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32(toStartOfHour(ts, 'UTC')) AS h, toUInt64(uniqExact("+f.id+")) FROM "+
			a.t(f.table)+" WHERE partner_id IN ? AND ts >= ? AND ts < ? GROUP BY partner_id, h", groupSet(batch), from, to)
		if err != nil {
			return fmt.Errorf("cannot count distinct %s: %w", f.name, err)
		}
		var build uint64
		var built map[sealKey]uint64
		if builds {
			hours := map[uint32]bool{}
			for _, p := range batch {
				for _, h := range byPartner[p] {
					hours[h] = true
				}
			}
			build = newBuild()
			start := time.Now()
			if built, err = a.runBuild(ctx, hourBuilds(batch, slices.Sorted(maps.Keys(hours)), from, to), build, batch, from, to); err != nil {
				return err
			}
			sealerBuildSeconds.WithLabelValues("hour").Observe(time.Since(start).Seconds())
		}
		b, err := a.Conn.PrepareBatch(syncInsert(ctx), "INSERT INTO "+a.t("analytics_seals")+" (fact, partner_id, hour, exact, rows, build, sealed_at)")
		if err != nil {
			return fmt.Errorf("cannot prepare seals: %w", err)
		}
		n := 0
		for _, p := range batch {
			for _, h := range byPartner[p] {
				k := sealKey{p, h}
				e := exact[k]
				sb := build
				if builds && built[k] != e {
					sb = 0 // landed twice, or a row arrived in between: build again next pass
					sealerAbandoned.WithLabelValues(f.name).Inc()
				}
				if err := b.Append(f.name, p, time.Unix(int64(h), 0).UTC(), e, rowsNow[k], sb, now); err != nil {
					_ = b.Abort()
					return fmt.Errorf("cannot append seal: %w", err)
				}
				n++
				if e != rowsNow[k] {
					sealerDirty.WithLabelValues(f.name).Inc()
				}
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot write %d seals: %w", n, err)
		}
		sealerSealed.WithLabelValues(f.name).Add(float64(n))
	}
	return nil
}

// sealCounts runs a query returning (partner_id, hour, count) rows.
func (a *Analytics) sealCounts(ctx context.Context, sql string, args ...any) (map[sealKey]uint64, error) {
	return sealRows(ctx, a, 1, func(_ uint64, v []uint64) uint64 { return v[0] }, sql, args...)
}

// sealRows runs a query returning (partner_id, hour, n UInt64 values) rows and folds each
// row's values into its partner and hour's entry.
func sealRows[V any](ctx context.Context, a *Analytics, n int, fold func(V, []uint64) V, sql string, args ...any) (map[sealKey]V, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*a.Cfg.QueryTimeout)
	defer cancel()
	rows, err := a.Conn.Query(qctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[sealKey]V{}
	var k sealKey
	vals := make([]uint64, n)
	dest := []any{&k.partner, &k.hour}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out[k] = fold(out[k], vals)
	}
	return out, rows.Err()
}

// groupSet binds ids as a parenthesised list for IN (a plain slice binds as an array).
func groupSet(ids []string) clickhouse.GroupSet {
	v := make([]any, len(ids))
	for i, id := range ids {
		v[i] = id
	}
	return clickhouse.GroupSet{Value: v}
}
