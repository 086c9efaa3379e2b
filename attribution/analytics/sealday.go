package analytics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// sealDay builds the daily tables of fact f for day d from the day's hours, for every
// partner whose every hour that day is vouched for (its live count equals a seal's count,
// and for clicks that seal names a build) and whose day changed since its last day seal.
// The day's count e is then the sum of its hours' counts, and the day is read from its
// build while the day's live count equals e: that forces every hour's live count to equal
// its seal, so every hourly build the day was summed from is exact. A day holding an hour
// no seal vouches for (a duplicate, an event since the last pass) is not built; requests
// read it hour by hour.
func (a *Analytics) sealDay(ctx context.Context, f *anFact, partners []string, d time.Time) error {
	live := liveFamily(f)
	end := d.AddDate(0, 0, 1)
	cond := ""
	args := []any{d, end}
	if partners != nil {
		cond = " AND partner_id IN ?"
		args = append(args, groupSet(partners))
	}
	liveHours, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32(hour), toUInt64("+live.rows+") FROM "+a.t(live.hourly)+
		" WHERE hour >= ? AND hour < ?"+cond+" GROUP BY partner_id, hour", args...)
	if err != nil || len(liveHours) == 0 {
		return err
	}
	hourSeals, err := a.sealVals(ctx, "SELECT partner_id, toUInt32(hour), exact, rows, build FROM "+a.t("analytics_seals")+
		" WHERE fact = ? AND hour >= ? AND hour < ?"+cond, append([]any{f.name}, args...)...)
	if err != nil {
		return fmt.Errorf("cannot read seals of %s: %w", f.name, err)
	}
	daySealed, err := a.sealCounts(ctx, "SELECT partner_id, toUInt32(hour), max(rows) FROM "+a.t("analytics_seals")+
		" WHERE fact = ? AND build != 0 AND hour >= ? AND hour < ?"+cond+" GROUP BY partner_id, hour", append([]any{f.daySeal()}, args...)...)
	if err != nil {
		return fmt.Errorf("cannot read seals of %s: %w", f.daySeal(), err)
	}
	type dayPlan struct {
		count  uint64
		ok     bool
		builds []any // (partner, hour, build) of the hours' builds
	}
	plans := map[string]*dayPlan{}
	for k, n := range liveHours {
		p := plans[k.partner]
		if p == nil {
			p = &dayPlan{ok: true}
			plans[k.partner] = p
		}
		p.count += n
		s := hourSeals[k]
		switch {
		case f == factClicks && (s.build == 0 || s.buildExact != n):
			p.ok = false
		case f == factClicks:
			p.builds = append(p.builds, clickhouse.GroupSet{Value: []any{k.partner, k.hour, s.build}})
		case s.exact != n:
			p.ok = false
		}
	}
	day := uint32(d.Unix())
	var ids []string
	for p, pl := range plans {
		if r, sealed := daySealed[sealKey{p, day}]; pl.ok && (!sealed || r != pl.count) {
			ids = append(ids, p)
		}
	}
	sort.Strings(ids)
	now := a.Cfg.Now().UTC().Truncate(time.Second)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), sealerDayBatch)]
		ids = ids[len(batch):]
		var hours []any
		for _, p := range batch {
			hours = append(hours, plans[p].builds...)
		}
		build := newBuild()
		start := time.Now()
		built, err := a.runBuild(ctx, dayBuilds(f, batch, clickhouse.GroupSet{Value: hours}, d), build, batch, d, end)
		if err != nil {
			return err
		}
		sealerBuildSeconds.WithLabelValues("day").Observe(time.Since(start).Seconds())
		b, err := a.Conn.PrepareBatch(syncInsert(ctx), "INSERT INTO "+a.t("analytics_seals")+" (fact, partner_id, hour, exact, rows, build, sealed_at)")
		if err != nil {
			return fmt.Errorf("cannot prepare seals: %w", err)
		}
		n := 0
		for _, p := range batch {
			if e := plans[p].count; built[sealKey{p, day}] == e {
				if err := b.Append(f.daySeal(), p, d, e, e, build, now); err != nil {
					_ = b.Abort()
					return fmt.Errorf("cannot append seal: %w", err)
				}
				n++
			} else {
				sealerAbandoned.WithLabelValues(f.daySeal()).Inc()
			}
		}
		if n == 0 {
			_ = b.Abort()
			continue
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot write %d seals: %w", n, err)
		}
		sealerSealed.WithLabelValues(f.daySeal()).Add(float64(n))
	}
	return nil
}

// syncInsert makes an insert into a Distributed table return once its shard has the rows
// (insert_distributed_sync), so what the sealer writes is visible to its next query and
// to requests at once (docs/operations.md, "ClickHouse cluster").
func syncInsert(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
}

// sealVals reads (partner_id, hour, exact, rows, build) seal rows, folded per partner and
// hour as the API folds them (sealVal.add).
func (a *Analytics) sealVals(ctx context.Context, sql string, args ...any) (map[sealKey]sealVal, error) {
	return sealRows(ctx, a, 3, func(s sealVal, v []uint64) sealVal { return s.add(v[0], v[1], v[2]) }, sql, args...)
}
