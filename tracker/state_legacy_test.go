package tracker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/redisx"
)

// legacyState is RedisState's lookup as it was before its commands and keys were reused
// (docs/performance.md, "Redis client path"): go-redis's command helpers, a fresh
// command, argument slice and key string per command per click. It is the baseline of
// BenchmarkRedisStateClientPath and the reference TestRedisStateSameAsLegacy compares
// the commands sent and the states read against.
type legacyState struct {
	Redis      redis.UniversalClient
	Quality    Quality
	PartnerTTL time.Duration

	cache partnerCache
	once  sync.Once
	co    redisx.Coalescer[*legacyCall]
	cfg   Quality
}

type legacyCall struct {
	q      *StateQuery
	out    *State
	err    error
	cached bool
	hmget  *redis.SliceCmd
	own    *redis.BoolCmd
	dup    *redis.BoolCmd
	vis    legacyWindow
	ip     legacyWindow
	pcap   legacyWindow
}

var legacyCalls = sync.Pool{New: func() any { return new(legacyCall) }}

type legacyWindow struct {
	cur    *redis.IntCmd
	expire *redis.BoolCmd
	prev   *redis.StringCmd
	weight float64
	limit  int64
}

func (w *legacyWindow) queue(ctx context.Context, pipe redis.Pipeliner, key string, limit int, span time.Duration, nowMs int64) {
	spanMs := max(span.Milliseconds(), 1)
	idx := nowMs / spanMs
	cur := key + ":" + strconv.FormatInt(idx, 10)
	w.cur = pipe.Incr(ctx, cur)
	w.expire = pipe.ExpireNX(ctx, cur, max(2*span, time.Second).Round(time.Second)+time.Second)
	w.prev = pipe.Get(ctx, key+":"+strconv.FormatInt(idx-1, 10))
	w.weight = 1 - float64(nowMs%spanMs)/float64(spanMs)
	w.limit = int64(limit)
}

func (w *legacyWindow) over() (bool, error) {
	cur, err := w.cur.Result()
	if err != nil {
		return false, err
	}
	if err := w.expire.Err(); err != nil {
		return false, err
	}
	prev, err := w.prev.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	return float64(prev)*w.weight+float64(cur) > float64(w.limit), nil
}

func (r *legacyState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	r.once.Do(func() {
		r.cfg = r.Quality
		r.cfg.defaults()
		r.co.Run = r.run
	})
	st, cached := r.cache.get(q.Partner, q.Now)
	if cached && (!q.Windows || st != PartnerActive) {
		out.Partner = st
		return nil
	}
	c := legacyCalls.Get().(*legacyCall)
	c.q, c.out, c.cached = q, out, cached
	if cached {
		out.Partner = st
	}
	r.co.Do(c)
	err := c.err
	*c = legacyCall{}
	legacyCalls.Put(c)
	return err
}

func (r *legacyState) run(calls []*legacyCall) {
	ctx := context.Background()
	pipe := r.Redis.Pipeline()
	for _, c := range calls {
		r.queue(ctx, pipe, c)
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range calls {
		c.err = r.read(c)
	}
}

func (r *legacyState) queue(ctx context.Context, pipe redis.Pipeliner, c *legacyCall) {
	q, cfg := c.q, &r.cfg
	pid := string(q.Partner)
	base := partners.Key(pid)
	if !c.cached {
		c.hmget = pipe.HMGet(ctx, base, partners.FieldStatus, partners.FieldEmailConfirmed)
	}
	if !q.Windows {
		return
	}
	vis := string(q.Visitor)
	now := q.Now.UnixMilli()
	c.own = pipe.SIsMember(ctx, partners.VisitorsKey(pid), vis)
	c.dup = pipe.SetNX(ctx, base+":dup:"+vis, "1", cfg.DuplicateWindow)
	c.vis.queue(ctx, pipe, "rfe:rl:v:{"+vis+"}", cfg.VisitorBurst, burstSpan(cfg.VisitorRate, cfg.VisitorBurst), now)
	c.ip.queue(ctx, pipe, "rfe:rl:ip:{"+q.IP.String()+"}", cfg.IPBurst, burstSpan(cfg.IPRate, cfg.IPBurst), now)
	if cfg.PartnerRate > 0 {
		c.pcap.queue(ctx, pipe, base+":rate", cfg.PartnerRate, time.Minute, now)
	}
}

func (r *legacyState) read(c *legacyCall) error {
	q, out := c.q, c.out
	if !c.cached {
		vals, err := c.hmget.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		var status, confirmed string
		if len(vals) == 2 {
			status, _ = vals[0].(string)
			confirmed, _ = vals[1].(string)
		}
		out.Partner = standing(status, confirmed)
		ttl := r.PartnerTTL
		if ttl == 0 {
			ttl = 5 * time.Second
		}
		r.cache.put(q.Partner, out.Partner, q.Now, ttl)
	}
	if !q.Windows {
		return nil
	}
	own, err := c.own.Result()
	if err != nil {
		return err
	}
	set, err := c.dup.Result()
	if err != nil {
		return err
	}
	out.OwnVisitor, out.Duplicate = own, !set
	if out.VisitorLimited, err = c.vis.over(); err != nil {
		return err
	}
	if out.IPLimited, err = c.ip.over(); err != nil {
		return err
	}
	if c.pcap.cur != nil {
		if out.PartnerLimited, err = c.pcap.over(); err != nil {
			return err
		}
	}
	return nil
}
