package tracker

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/redisx"
)

// PartnerState is what the registry says about a click's partner.
type PartnerState uint8

// Partner states.
const (
	PartnerUnknown PartnerState = iota
	PartnerActive
	PartnerBlocked
	// PartnerUnconfirmed: registered and not blocked, but the partner's email address
	// is not confirmed; such a partner's clicks are refused like a blocked one's.
	PartnerUnconfirmed
)

// State is everything a click needs from shared storage, read in one round trip.
type State struct {
	Partner PartnerState
	// OwnVisitor: the visitor is one the partner used on their own dashboard.
	OwnVisitor bool
	// Duplicate: the visitor clicked this partner within the duplicate window.
	Duplicate bool
	// IPLimited, VisitorLimited, PartnerLimited: a rate limit refused the click.
	IPLimited, VisitorLimited, PartnerLimited bool
	// Degraded is set when the store did not answer; checks that need it are skipped.
	Degraded bool
}

// StateQuery names what to read for one click. Its slices alias the request.
type StateQuery struct {
	Partner []byte
	// Visitor is "v:<rfe_vid>" for a returning browser, else "h:<visitor hash>".
	Visitor []byte
	IP      netip.Addr
	Now     time.Time
	// Windows asks for the duplicate window, the limits and the own-visitor check, and
	// opens the window. Without it only the partner's standing is needed.
	Windows bool
}

// StateStore reads a click's state. Implementations make at most one network round
// trip per call.
type StateStore interface {
	Lookup(ctx context.Context, q *StateQuery, out *State) error
}

// RedisState reads and updates click state in Redis with plain single-key commands, so
// it works on Redis Cluster unchanged: the partner's standing (HMGET of the registry's
// status and email_confirmed fields, skipped when the in-process cache knows it), the
// own-visitor check (SISMEMBER), the duplicate window (SET NX PX) and the rate limiters
// (sliding-window counters: INCR and EXPIRE NX of this window's counter, GET of the
// previous one). Plain commands cost Redis a fraction of a Lua script call. Concurrent
// clicks share round trips: their commands go out together in one pipeline
// (redisx.Coalescer), so under load a burst of clicks costs one write and one read.
type RedisState struct {
	Redis   redis.UniversalClient
	Quality Quality
	// PartnerTTL is how long a partner's standing is remembered in process; 0 means
	// 5 seconds, negative disables the cache. A block, an unblock and an email
	// confirmation take effect within it.
	PartnerTTL time.Duration

	cache partnerCache
	once  sync.Once
	co    redisx.Coalescer[*lookupCall]
	cfg   Quality // Quality with defaults
}

// lookupCall is one click's part of a shared pipeline.
type lookupCall struct {
	q      *StateQuery
	out    *State
	err    error
	cached bool // the standing came from the cache; hmget is unused
	hmget  *redis.SliceCmd
	own    *redis.BoolCmd
	dup    *redis.BoolCmd
	vis    slidingWindow
	ip     slidingWindow
	pcap   slidingWindow // only with Quality.PartnerRate
}

var lookupCalls = sync.Pool{New: func() any { return new(lookupCall) }}

// slidingWindow is one rate limiter's commands for one click: Cloudflare's two-counter
// estimate of the clicks in the last span, previous window's count weighted by how
// much of it the sliding span still covers, plus this window's count (this click
// included). Refused clicks count too: a client that keeps hammering stays limited.
type slidingWindow struct {
	cur    *redis.IntCmd
	expire *redis.BoolCmd
	prev   *redis.StringCmd
	weight float64 // share of the previous window inside the sliding span
	limit  int64
}

func (w *slidingWindow) queue(ctx context.Context, pipe redis.Pipeliner, key string, limit int, span time.Duration, nowMs int64) {
	spanMs := max(span.Milliseconds(), 1)
	idx := nowMs / spanMs
	cur := key + ":" + strconv.FormatInt(idx, 10)
	w.cur = pipe.Incr(ctx, cur)
	// Kept for two spans: during the next window it is the previous one.
	w.expire = pipe.ExpireNX(ctx, cur, max(2*span, time.Second).Round(time.Second)+time.Second)
	w.prev = pipe.Get(ctx, key+":"+strconv.FormatInt(idx-1, 10))
	w.weight = 1 - float64(nowMs%spanMs)/float64(spanMs)
	w.limit = int64(limit)
}

func (w *slidingWindow) over() (bool, error) {
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

// Lookup implements StateStore. It waits for the pipeline that carries the click.
func (r *RedisState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	r.once.Do(func() {
		// Defaults go on a copy: writing them into r.Quality would race with readers.
		r.cfg = r.Quality
		r.cfg.defaults()
		r.co.Run = r.run
	})
	st, cached := r.cache.get(q.Partner, q.Now)
	if cached && (!q.Windows || st != PartnerActive) {
		// Standing is all the verdict needs: an inactive partner's click is refused
		// whatever its windows say, and opens none.
		out.Partner = st
		return nil
	}
	c := lookupCalls.Get().(*lookupCall)
	c.q, c.out, c.cached = q, out, cached
	if cached {
		out.Partner = st
	}
	r.co.Do(c)
	err := c.err
	*c = lookupCall{}
	lookupCalls.Put(c)
	return err
}

// run sends one batch of clicks in a pipeline. The client's own timeouts bound it.
func (r *RedisState) run(calls []*lookupCall) {
	ctx := context.Background()
	pipe := r.Redis.Pipeline()
	for _, c := range calls {
		r.queue(ctx, pipe, c)
	}
	_, _ = pipe.Exec(ctx) // each click reads its own commands' errors
	for _, c := range calls {
		c.err = r.read(c)
	}
}

func (r *RedisState) queue(ctx context.Context, pipe redis.Pipeliner, c *lookupCall) {
	q, cfg := c.q, &r.cfg
	pid := string(q.Partner)
	base := partners.Key(pid)
	if !c.cached {
		// The two fields the standing derives from, read as stored: no derived copy
		// can go stale, and entries written before email confirmation counted need no
		// migration (the registry has always stored both).
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

// burstSpan is the span in which a limiter of rate per minute admits burst clicks.
func burstSpan(rate, burst int) time.Duration {
	return time.Duration(burst) * time.Minute / time.Duration(rate)
}

func (r *RedisState) read(c *lookupCall) error {
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

// standing derives a partner's state from the registry's status and email_confirmed
// fields as stored: a block wins over an unconfirmed address, and an entry without a
// status is no partner at all.
func standing(status, emailConfirmed string) PartnerState {
	switch status {
	case string(partners.Blocked):
		return PartnerBlocked
	case string(partners.Active):
		if !partners.ConfirmedValue(emailConfirmed) {
			return PartnerUnconfirmed
		}
		return PartnerActive
	}
	return PartnerUnknown
}

// partnerCache remembers partners' standing for a few seconds, so clicks the request
// alone already disqualifies (bots, hidden loads, ads) cost no Redis round trip.
type partnerCache struct {
	mu sync.RWMutex
	m  map[string]cachedStanding
}

type cachedStanding struct {
	st      PartnerState
	expires int64 // unix nanoseconds
}

// maxCachedPartners bounds the cache; past it the cache is cleared (unknown ids sent by
// a scanner must not grow memory without bound).
const maxCachedPartners = 100_000

func (c *partnerCache) get(id []byte, now time.Time) (PartnerState, bool) {
	c.mu.RLock()
	e, ok := c.m[string(id)]
	c.mu.RUnlock()
	if !ok || now.UnixNano() >= e.expires {
		return 0, false
	}
	return e.st, true
}

func (c *partnerCache) put(id []byte, st PartnerState, now time.Time, ttl time.Duration) {
	if ttl < 0 {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedPartners {
		c.m = make(map[string]cachedStanding)
	}
	c.m[string(id)] = cachedStanding{st: st, expires: now.Add(ttl).UnixNano()}
	c.mu.Unlock()
}

// MemoryState is an in-process StateStore for tests, benchmarks and examples: partner
// standing only, no windows or limits.
type MemoryState struct {
	mu       sync.RWMutex
	partners map[string]PartnerState
}

// SetPartner records a partner's state.
func (m *MemoryState) SetPartner(id string, st PartnerState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.partners == nil {
		m.partners = map[string]PartnerState{}
	}
	m.partners[id] = st
}

// Lookup implements StateStore.
func (m *MemoryState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	m.mu.RLock()
	out.Partner = m.partners[string(q.Partner)]
	m.mu.RUnlock()
	return nil
}
