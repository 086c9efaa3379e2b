package tracker

import (
	"context"
	"errors"
	"net/netip"
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

// RedisState reads and updates click state in Redis: per click one script in each hash
// slot involved (the partner's, the visitor's, the IP's), so it works on Redis Cluster.
// Concurrent clicks share round trips: their scripts go out together in one pipeline
// (redisx.Coalescer), so under load a burst of clicks costs one write and one read.
type RedisState struct {
	R redis.UniversalClient
	Q Quality
	// PartnerTTL is how long a partner's standing is remembered in process; 0 means
	// 5 seconds, negative disables the cache. A block takes effect within it.
	PartnerTTL time.Duration

	cache partnerCache
	once  sync.Once
	co    redisx.Coalescer[*lookupCall]
	cfg   Quality // Q with defaults
}

// lookupCall is one click's part of a shared pipeline.
type lookupCall struct {
	q     *StateQuery
	out   *State
	err   error
	hget  *redis.StringCmd // standing only
	click *redis.Cmd       // with windows: clickScript, then the two limiters
	vis   *redis.Cmd
	ip    *redis.Cmd
}

var lookupCalls = sync.Pool{New: func() any { return new(lookupCall) }}

// clickScript runs in the partner's slot: standing, own-visitor check, duplicate window
// (set for active partners only) and the optional partner cap (GCRA).
// KEYS: partner hash, dup key, own-visitors set, partner rate key.
// ARGV: visitor, dup window ms, now ms, partner emission interval ms (0: off), burst.
var clickScript = redis.NewScript(`
local status = redis.call('HGET', KEYS[1], 'status') or ''
local own = redis.call('SISMEMBER', KEYS[3], ARGV[1])
local dup = 0
local limited = 0
if status == 'active' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then dup = 1 end
  local ei = tonumber(ARGV[4])
  if ei > 0 then
    local now = tonumber(ARGV[3])
    local tat = tonumber(redis.call('GET', KEYS[4]) or now)
    if tat < now then tat = now end
    if now < tat + ei - ei * tonumber(ARGV[5]) then limited = 1
    else redis.call('SET', KEYS[4], tat + ei, 'PX', math.ceil(tat + ei - now)) end
  end
end
return {status, own, dup, limited}`)

// gcraScript is a generic cell-rate limiter: 1 when the call is over the limit.
// KEYS: the limiter key. ARGV: emission interval ms, burst, now ms.
var gcraScript = redis.NewScript(`
local ei, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat + ei - ei * burst then return 1 end
redis.call('SET', KEYS[1], tat + ei, 'PX', math.ceil(tat + ei - now))
return 0`)

// LoadScripts loads the scripts into Redis (every shard on a cluster) so the click path
// can use EVALSHA; Lookup reloads them itself after a Redis restart.
func (r *RedisState) LoadScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{clickScript, gcraScript} {
		if err := s.Load(ctx, r.R).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Lookup implements StateStore. It waits for the pipeline that carries the click.
func (r *RedisState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	r.once.Do(func() {
		// Defaults go on a copy: writing them into r.Q would race with readers.
		r.cfg = r.Q
		r.cfg.defaults()
		r.co.Run = r.run
	})
	if !q.Windows {
		// Standing only: from the cache when it knows.
		if st, ok := r.cache.get(q.Partner, q.Now); ok {
			out.Partner = st
			return nil
		}
	}
	c := lookupCalls.Get().(*lookupCall)
	c.q, c.out = q, out
	r.co.Do(c)
	err := c.err
	*c = lookupCall{}
	lookupCalls.Put(c)
	return err
}

// run sends one batch of clicks in a pipeline. The client's own timeouts bound it.
func (r *RedisState) run(calls []*lookupCall) {
	ctx := context.Background()
	r.exec(ctx, calls)
	// After a Redis restart the scripts are gone and every EVALSHA failed without
	// running: load them and send those clicks again.
	var again []*lookupCall
	for _, c := range calls {
		if c.err != nil && redis.HasErrorPrefix(c.err, "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return
	}
	if err := r.LoadScripts(ctx); err != nil {
		for _, c := range again {
			c.err = err
		}
		return
	}
	r.exec(ctx, again)
}

func (r *RedisState) exec(ctx context.Context, calls []*lookupCall) {
	pipe := r.R.Pipeline()
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
	if !q.Windows {
		c.hget = pipe.HGet(ctx, base, partners.FieldStatus)
		return
	}
	vis := string(q.Visitor)
	now := q.Now.UnixMilli()
	partnerEI := int64(0)
	if cfg.PartnerRate > 0 {
		partnerEI = int64(time.Minute/time.Millisecond) / int64(cfg.PartnerRate)
	}
	c.click = clickScript.EvalSha(ctx, pipe, []string{base, base + ":dup:" + vis, partners.VisitorsKey(pid), base + ":rate"},
		vis, cfg.DuplicateWindow.Milliseconds(), now, partnerEI, 1)
	c.vis = gcraScript.EvalSha(ctx, pipe, []string{"rfe:rl:v:{" + vis + "}"},
		int64(time.Minute/time.Millisecond)/int64(cfg.VisitorRate), cfg.VisitorBurst, now)
	c.ip = gcraScript.EvalSha(ctx, pipe, []string{"rfe:rl:ip:{" + q.IP.String() + "}"},
		int64(time.Minute/time.Millisecond)/int64(cfg.IPRate), cfg.IPBurst, now)
}

func (r *RedisState) read(c *lookupCall) error {
	q, out := c.q, c.out
	ttl := r.PartnerTTL
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	if !q.Windows {
		status, err := c.hget.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		out.Partner = standing(status)
		r.cache.put(q.Partner, out.Partner, q.Now, ttl)
		return nil
	}
	for _, cmd := range []*redis.Cmd{c.click, c.vis, c.ip} {
		if err := cmd.Err(); err != nil {
			return err
		}
	}
	res, err := c.click.Slice()
	if err != nil {
		return err
	}
	if len(res) != 4 {
		return errors.New("tracker: click script answered an unexpected shape")
	}
	status, _ := res[0].(string)
	out.Partner = standing(status)
	r.cache.put(q.Partner, out.Partner, q.Now, ttl)
	out.OwnVisitor = res[1] == int64(1)
	out.Duplicate = res[2] == int64(1)
	out.PartnerLimited = res[3] == int64(1)
	out.VisitorLimited = c.vis.Val() == int64(1)
	out.IPLimited = c.ip.Val() == int64(1)
	return nil
}

func standing(status string) PartnerState {
	switch status {
	case string(partners.Active):
		return PartnerActive
	case string(partners.Blocked):
		return PartnerBlocked
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
