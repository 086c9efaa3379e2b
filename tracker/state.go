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
// own-visitor check (SISMEMBER), the duplicate window (SET NX with EX or PX) and the rate
// limiters (sliding-window counters: INCR and EXPIRE NX of this window's counter, GET of
// the previous one). Plain commands cost Redis a fraction of a Lua script call.
// Concurrent clicks share round trips: their commands go out together in one pipeline
// (redisx.Coalescer), so under load a burst of clicks costs one write and one read.
//
// A click's commands and keys live in a pooled lookupCall and are reused by later
// clicks (docs/performance.md, "Redis client path"): keys are written into the call's
// buffer and handed to go-redis as keyArg, so a click allocates no command, argument
// slice or key string. On Redis Cluster go-redis memoises each command's hash slot in
// the command itself, so there the commands are built afresh per click (the keys stay
// in the buffer).
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
	// reuse: commands may be reused across pipelines (a single Redis, not a cluster).
	reuse bool
	// dupTail is SET's arguments after the key and value, as go-redis's SetNX sends them
	// for the duplicate window.
	dupTail []any
	// The limiters' fixed parameters.
	visWin, ipWin, pcapWin windowParams
	calls                  sync.Pool // *lookupCall
	cmdBufs                sync.Pool // *[]redis.Cmder, one batch's commands
}

// lookupCall is one click's part of a shared pipeline.
type lookupCall struct {
	q      *StateQuery
	out    *State
	err    error
	cached bool // the standing came from the cache; hmget is not sent
	// keys holds the bytes of the keyArgs below, back to back.
	keys []byte
	// partner is the registry's hash; visitors the partner's own visitors; dupKey the
	// duplicate window; visitor the SISMEMBER member.
	partner, visitors, dupKey, visitor keyArg

	built bool // the commands below exist and refer to the keyArgs
	hmget *redis.SliceCmd
	own   *redis.BoolCmd
	dup   *redis.BoolCmd
	vis   slidingWindow
	ip    slidingWindow
	pcap  slidingWindow // sent only with Quality.PartnerRate
}

// keyArg is a command argument go-redis sends as a bulk string: it writes an
// encoding.BinaryMarshaler's bytes as they are, so a key written into a reused buffer
// costs no string and, being a pointer, no interface allocation.
type keyArg struct{ b []byte }

// MarshalBinary implements encoding.BinaryMarshaler.
func (k *keyArg) MarshalBinary() ([]byte, error) { return k.b, nil }

// String is what go-redis reads the key as to compute its hash slot on a cluster (and
// prints in a command's description).
func (k *keyArg) String() string { return string(k.b) }

// windowParams is what a limiter's commands have the same for every click.
type windowParams struct {
	spanMs int64
	limit  int64
	// expire is EXPIRE's seconds argument, boxed once.
	expire any
}

func newWindowParams(limit int, span time.Duration) windowParams {
	// Kept for two spans: during the next window it is the previous one.
	ttl := max(2*span, time.Second).Round(time.Second) + time.Second
	return windowParams{spanMs: max(span.Milliseconds(), 1), limit: int64(limit), expire: any(int64(ttl / time.Second))}
}

// slidingWindow is one rate limiter's commands for one click: Cloudflare's two-counter
// estimate of the clicks in the last span, previous window's count weighted by how
// much of it the sliding span still covers, plus this window's count (this click
// included). Refused clicks count too: a client that keeps hammering stays limited.
type slidingWindow struct {
	cur, prev keyArg // this window's counter and the previous one's
	// at, mid, end: cur is keys[at:mid] of the click's keys, prev keys[mid:end].
	at, mid, end int
	incr         *redis.IntCmd
	expire       *redis.BoolCmd
	get          *redis.StringCmd
	weight       float64 // share of the previous window inside the sliding span
	limit        int64
}

// keys appends the window's two counter keys, base + ":" + window index, to k, where
// base is k[from:], and records where they lie in it.
func (w *slidingWindow) keys(k []byte, from int, p *windowParams, nowMs int64) []byte {
	idx := nowMs / p.spanMs
	base := k[from:] // appending to k leaves these bytes as they are, wherever k moves
	w.at = len(k)
	k = append(k, base...)
	k = append(k, ':')
	k = strconv.AppendInt(k, idx, 10)
	w.mid = len(k)
	k = append(k, base...)
	k = append(k, ':')
	k = strconv.AppendInt(k, idx-1, 10)
	w.end = len(k)
	w.weight = 1 - float64(nowMs%p.spanMs)/float64(p.spanMs)
	w.limit = p.limit
	return k
}

// slice points the window's keyArgs into the click's keys.
func (w *slidingWindow) slice(keys []byte) {
	w.cur.b, w.prev.b = keys[w.at:w.mid], keys[w.mid:w.end]
}

func (w *slidingWindow) build(ctx context.Context, r *RedisState, p *windowParams) {
	cur := r.arg(&w.cur)
	w.incr = redis.NewIntCmd(ctx, "incr", cur)
	w.expire = redis.NewBoolCmd(ctx, "expire", cur, p.expire, "NX")
	w.get = redis.NewStringCmd(ctx, "get", r.arg(&w.prev))
}

func (w *slidingWindow) queue(cmds []redis.Cmder) []redis.Cmder {
	w.incr.SetErr(nil)
	w.expire.SetErr(nil)
	w.get.SetErr(nil)
	w.get.SetVal("")
	return append(cmds, w.incr, w.expire, w.get)
}

func (w *slidingWindow) over() (bool, error) {
	cur, err := w.incr.Result()
	if err != nil {
		return false, err
	}
	if err := w.expire.Err(); err != nil {
		return false, err
	}
	prev, err := w.get.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	return float64(prev)*w.weight+float64(cur) > float64(w.limit), nil
}

// init fills in the defaults and what every click's commands share. Called once.
func (r *RedisState) init() {
	// Defaults go on a copy: writing them into r.Quality would race with readers.
	r.cfg = r.Quality
	r.cfg.defaults()
	r.co.Run = r.run
	r.reuse = singleNode(r.Redis)
	// As go-redis's SetNX sends it.
	switch d := r.cfg.DuplicateWindow; {
	case d < time.Second || d%time.Second != 0:
		r.dupTail = []any{"px", int64(max(d/time.Millisecond, 1)), "nx"}
	default:
		r.dupTail = []any{"ex", int64(d / time.Second), "nx"}
	}
	r.visWin = newWindowParams(r.cfg.VisitorBurst, burstSpan(r.cfg.VisitorRate, r.cfg.VisitorBurst))
	r.ipWin = newWindowParams(r.cfg.IPBurst, burstSpan(r.cfg.IPRate, r.cfg.IPBurst))
	if r.cfg.PartnerRate > 0 {
		r.pcapWin = newWindowParams(r.cfg.PartnerRate, time.Minute)
	}
}

// singleNode reports whether c talks to one Redis server, where a command may be sent
// again: go-redis's cluster client memoises a command's hash slot in the command.
func singleNode(c redis.UniversalClient) bool {
	switch v := c.(type) {
	case *redis.Client:
		return true
	case *redisx.Client:
		return singleNode(v.UniversalClient)
	}
	return false
}

// Lookup implements StateStore. It waits for the pipeline that carries the click.
func (r *RedisState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	r.once.Do(r.init)
	st, cached := r.cache.get(q.Partner, q.Now)
	if cached && (!q.Windows || st != PartnerActive) {
		// Standing is all the verdict needs: an inactive partner's click is refused
		// whatever its windows say, and opens none.
		out.Partner = st
		return nil
	}
	c, _ := r.calls.Get().(*lookupCall)
	if c == nil {
		c = new(lookupCall)
	}
	c.q, c.out, c.cached = q, out, cached
	if cached {
		out.Partner = st
	}
	r.co.Do(c)
	err := c.err
	c.q, c.out, c.err = nil, nil, nil
	if cap(c.keys) <= maxPooledKeys {
		r.calls.Put(c)
	}
	return err
}

// maxPooledKeys bounds the key buffer a pooled call keeps: a call whose click's keys
// grew it past this is dropped rather than pooled.
const maxPooledKeys = 4 << 10

// run sends one batch of clicks in a pipeline. The client's own timeouts bound it.
func (r *RedisState) run(calls []*lookupCall) {
	ctx := context.Background()
	buf, _ := r.cmdBufs.Get().(*[]redis.Cmder)
	if buf == nil {
		buf = new([]redis.Cmder)
	}
	cmds := (*buf)[:0]
	for _, c := range calls {
		cmds = r.queue(ctx, cmds, c)
	}
	pipe := r.Redis.Pipeline()
	_ = pipe.BatchProcess(ctx, cmds...)
	_, _ = pipe.Exec(ctx) // each click reads its own commands' errors
	for _, c := range calls {
		c.err = r.read(c)
	}
	clear(cmds)
	*buf = cmds[:0]
	r.cmdBufs.Put(buf)
}

// queue writes the click's keys and appends its commands to cmds.
func (r *RedisState) queue(ctx context.Context, cmds []redis.Cmder, c *lookupCall) []redis.Cmder {
	q := c.q
	k := partners.AppendKey(c.keys[:0], q.Partner)
	partnerEnd := len(k)
	var visitorsEnd, dupEnd, visitorEnd int
	if q.Windows {
		now := q.Now.UnixMilli()
		k = partners.AppendVisitorsKey(k, q.Partner)
		visitorsEnd = len(k)
		k = append(k, k[:partnerEnd]...)
		k = append(k, ":dup:"...)
		k = append(k, q.Visitor...)
		dupEnd = len(k)
		k = append(k, q.Visitor...)
		visitorEnd = len(k)
		// Each limiter's key without the window index, then its two windows' keys.
		k = append(k, "rfe:rl:v:{"...)
		k = append(k, q.Visitor...)
		k = append(k, '}')
		k = c.vis.keys(k, visitorEnd, &r.visWin, now)
		from := len(k)
		k = append(k, "rfe:rl:ip:{"...)
		k = q.IP.AppendTo(k)
		k = append(k, '}')
		k = c.ip.keys(k, from, &r.ipWin, now)
		if r.cfg.PartnerRate > 0 {
			from = len(k)
			k = append(k, k[:partnerEnd]...)
			k = append(k, ":rate"...)
			k = c.pcap.keys(k, from, &r.pcapWin, now)
		}
	}
	// Slices into k only now: appending may have moved it.
	c.keys = k
	c.partner.b = k[:partnerEnd]
	if q.Windows {
		c.visitors.b = k[partnerEnd:visitorsEnd]
		c.dupKey.b = k[visitorsEnd:dupEnd]
		c.visitor.b = k[dupEnd:visitorEnd]
		c.vis.slice(k)
		c.ip.slice(k)
		if r.cfg.PartnerRate > 0 {
			c.pcap.slice(k)
		}
	}
	switch {
	case !r.reuse:
		c.build(ctx, r, !c.cached, q.Windows)
	case !c.built:
		// Every command: later clicks may need them.
		c.build(ctx, r, true, true)
		c.built = true
	}
	if !c.cached {
		// The two fields the standing derives from, read as stored: no derived copy
		// can go stale, and entries written before email confirmation counted need no
		// migration (the registry has always stored both).
		c.hmget.SetErr(nil)
		c.hmget.SetVal(nil)
		cmds = append(cmds, c.hmget)
	}
	if !q.Windows {
		return cmds
	}
	c.own.SetErr(nil)
	c.own.SetVal(false)
	c.dup.SetErr(nil)
	c.dup.SetVal(false)
	cmds = append(cmds, c.own, c.dup)
	cmds = c.vis.queue(cmds)
	cmds = c.ip.queue(cmds)
	if r.cfg.PartnerRate > 0 {
		cmds = c.pcap.queue(cmds)
	}
	return cmds
}

// build makes the call's commands: the standing's HMGET and the windows' as asked.
func (c *lookupCall) build(ctx context.Context, r *RedisState, standing, windows bool) {
	if standing {
		c.hmget = redis.NewSliceCmd(ctx, "hmget", r.arg(&c.partner), partners.FieldStatus, partners.FieldEmailConfirmed)
	}
	if windows {
		c.own = redis.NewBoolCmd(ctx, "sismember", r.arg(&c.visitors), r.arg(&c.visitor))
		dup := make([]any, 0, 3+len(r.dupTail))
		dup = append(dup, "set", r.arg(&c.dupKey), "1")
		c.dup = redis.NewBoolCmd(ctx, append(dup, r.dupTail...)...)
		c.vis.build(ctx, r, &r.visWin)
		c.ip.build(ctx, r, &r.ipWin)
		if r.cfg.PartnerRate > 0 {
			c.pcap.build(ctx, r, &r.pcapWin)
		}
	}
}

// arg is k as a command argument: the keyArg itself when commands are reused (it
// follows the key the call holds), else a string of its current bytes, which go-redis's
// cluster routing reads as it is (a keyArg it would format with fmt to hash it).
func (r *RedisState) arg(k *keyArg) any {
	if r.reuse {
		return k
	}
	return string(k.b)
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
	if r.cfg.PartnerRate > 0 {
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
