package tracker

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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

// RedisState reads and updates click state in Redis: the partner's standing (HMGET of
// the registry's status and email_confirmed fields, skipped when the in-process cache
// knows it), and for a click that opens windows the own-visitor check (SISMEMBER), the
// duplicate window (SET NX PX) and the rate limiters (sliding-window counters: INCR,
// PEXPIRE of a new counter, GET of the previous window's). Concurrent clicks share round
// trips (redisx.Coalescer), and their windows are one call of a script (state.lua) per
// batch: a plain command costs Redis its parsing and reply as much as its work, and the
// script pays those once for the batch (docs/performance.md, "Redis per click"). On
// Redis Cluster, where a script's keys must share a slot, the batch makes one call per
// slot its keys fall in, all in the same pipeline.
type RedisState struct {
	Redis   redis.UniversalClient
	Quality Quality
	// PartnerTTL is how long a partner's standing is remembered in process; 0 means
	// 5 seconds, negative disables the cache. A block, an unblock and an email
	// confirmation take effect within it.
	PartnerTTL time.Duration

	cache   partnerCache
	once    sync.Once
	co      redisx.Coalescer[*lookupCall]
	cfg     Quality // Quality with defaults
	cluster bool
	batches sync.Pool // *stateBatch
}

//go:embed state.lua
var stateLua string

var stateScript = redis.NewScript(stateLua)

// lookupCall is one click's part of a shared pipeline.
type lookupCall struct {
	q      *StateQuery
	out    *State
	err    error
	cached bool // the standing came from the cache; hmget is unused
	hmget  *redis.SliceCmd
	// Where the click's checks answer in the batch's script calls.
	own, dup   scriptRef
	vis, ip    slidingWindow
	pcap       slidingWindow // only with Quality.PartnerRate
	hasWindows bool
}

var lookupCalls = sync.Pool{New: func() any { return new(lookupCall) }}

// scriptRef is a check's answer in a batch: the script call and the first integer.
type scriptRef struct {
	call *scriptCall
	at   int
}

func (r scriptRef) val(i int) (int64, error) {
	if r.call.err != nil {
		return 0, r.call.err
	}
	return r.call.vals[r.at+i], nil
}

// slidingWindow is one rate limiter's check for one click: Cloudflare's two-counter
// estimate of the clicks in the last span, previous window's count weighted by how
// much of it the sliding span still covers, plus this window's count (this click
// included). Refused clicks count too: a client that keeps hammering stays limited.
type slidingWindow struct {
	ref    scriptRef
	weight float64 // share of the previous window inside the sliding span
	limit  int64
}

func (w *slidingWindow) over() (bool, error) {
	cur, err := w.ref.val(0)
	if err != nil {
		return false, err
	}
	prev, err := w.ref.val(1)
	if err != nil {
		return false, err
	}
	return overLimit(cur, prev, w.weight, w.limit), nil
}

// overLimit is the limiter's decision: the sliding estimate exceeds the limit.
func overLimit(cur, prev int64, weight float64, limit int64) bool {
	return float64(prev)*weight+float64(cur) > float64(limit)
}

// scriptCall is one call of state.lua: the checks of a batch whose keys share a slot.
type scriptCall struct {
	ops  []byte
	keys []string
	args []any // ops, then the checks' arguments
	n    int   // integers the call answers
	cmd  *redis.Cmd
	vals []int64 // the answer
	err  error
}

// result reads the call's answer.
func (sc *scriptCall) result() {
	sc.vals, sc.err = sc.cmd.Int64Slice()
	if sc.err == nil && len(sc.vals) != sc.n {
		sc.err = fmt.Errorf("click state script answered %d values, want %d", len(sc.vals), sc.n)
	}
}

// stateBatch is a batch's script calls, reused across batches.
type stateBatch struct {
	calls  []*scriptCall
	used   int
	bySlot map[uint16]*scriptCall
}

// call is the script call for keys in slot: one per slot on a cluster, one in all
// otherwise.
func (b *stateBatch) call(cluster bool, slot uint16) *scriptCall {
	if !cluster {
		slot = 0
	}
	if c := b.bySlot[slot]; c != nil {
		return c
	}
	if b.used == len(b.calls) {
		b.calls = append(b.calls, new(scriptCall))
	}
	c := b.calls[b.used]
	b.used++
	c.ops, c.keys, c.args, c.n, c.cmd = c.ops[:0], c.keys[:0], append(c.args[:0], nil), 0, nil
	b.bySlot[slot] = c
	return c
}

func (b *stateBatch) reset() {
	for _, c := range b.calls[:b.used] {
		clear(c.keys)
		clear(c.args)
		c.cmd, c.vals, c.err = nil, nil, nil
	}
	b.used = 0
	clear(b.bySlot)
}

// Lookup implements StateStore. It waits for the pipeline that carries the click.
func (r *RedisState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	r.once.Do(func() {
		// Defaults go on a copy: writing them into r.Quality would race with readers.
		r.cfg = r.Quality
		r.cfg.defaults()
		r.cluster = redisx.IsCluster(r.Redis)
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

// run sends one batch of clicks in a pipeline: the standings not cached and the
// batch's script calls. The client's own timeouts bound it.
func (r *RedisState) run(calls []*lookupCall) {
	ctx := context.Background()
	b, _ := r.batches.Get().(*stateBatch)
	if b == nil {
		b = &stateBatch{bySlot: make(map[uint16]*scriptCall)}
	}
	pipe := r.Redis.Pipeline()
	for _, c := range calls {
		r.queue(ctx, pipe, b, c)
	}
	for _, sc := range b.calls[:b.used] {
		sc.args[0] = sc.ops
		sc.cmd = stateScript.EvalSha(ctx, pipe, sc.keys, sc.args...)
	}
	_, _ = pipe.Exec(ctx) // each click reads its own commands' errors
	r.retryNoScript(ctx, b)
	for _, sc := range b.calls[:b.used] {
		sc.result()
	}
	for _, c := range calls {
		c.err = r.read(c)
	}
	b.reset()
	r.batches.Put(b)
}

// retryNoScript sends again, with the script's text, the calls a node answered
// NOSCRIPT (a restarted or new node, SCRIPT FLUSH): such a call ran nothing, and EVAL
// leaves the script cached for the next batches.
func (r *RedisState) retryNoScript(ctx context.Context, b *stateBatch) {
	var pipe redis.Pipeliner
	for _, sc := range b.calls[:b.used] {
		if !redis.HasErrorPrefix(sc.cmd.Err(), "NOSCRIPT") {
			continue
		}
		if pipe == nil {
			pipe = r.Redis.Pipeline()
		}
		sc.cmd = stateScript.Eval(ctx, pipe, sc.keys, sc.args...)
	}
	if pipe != nil {
		_, _ = pipe.Exec(ctx)
	}
}

func (r *RedisState) queue(ctx context.Context, pipe redis.Pipeliner, b *stateBatch, c *lookupCall) {
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
	c.hasWindows = true
	vis := string(q.Visitor)
	now := q.Now.UnixMilli()
	// The partner's keys share its hash tag, so one call serves both checks.
	sc := b.call(r.cluster, redisx.Slot(base))
	c.own = sc.add('o', 1, partners.VisitorsKey(pid), "", vis, nil)
	c.dup = sc.add('d', 1, base+":dup:"+vis, "", max(cfg.DuplicateWindow.Milliseconds(), 1), nil)
	r.window(b, &c.vis, "rfe:rl:v:{"+vis+"}", cfg.VisitorBurst, burstSpan(cfg.VisitorRate, cfg.VisitorBurst), now)
	r.window(b, &c.ip, "rfe:rl:ip:{"+q.IP.String()+"}", cfg.IPBurst, burstSpan(cfg.IPRate, cfg.IPBurst), now)
	if cfg.PartnerRate > 0 {
		r.window(b, &c.pcap, base+":rate", cfg.PartnerRate, time.Minute, now)
	}
}

// add appends a check of op with its keys and arguments (key2, arg2 when non-empty)
// answering n integers.
func (sc *scriptCall) add(op byte, n int, key, key2 string, arg, arg2 any) scriptRef {
	sc.ops = append(sc.ops, op)
	sc.keys = append(sc.keys, key)
	if key2 != "" {
		sc.keys = append(sc.keys, key2)
	}
	sc.args = append(sc.args, arg)
	if arg2 != nil {
		sc.args = append(sc.args, arg2)
	}
	ref := scriptRef{call: sc, at: sc.n}
	sc.n += n
	return ref
}

// window queues a limiter's check: the counters of the window now falls in and of
// the one before, windows aligned to the Unix epoch.
func (r *RedisState) window(b *stateBatch, w *slidingWindow, key string, limit int, span time.Duration, nowMs int64) {
	spanMs := max(span.Milliseconds(), 1)
	idx := nowMs / spanMs
	// Kept for two spans: during the next window it is the previous one.
	ttl := max(2*span, time.Second).Round(time.Second) + time.Second
	sc := b.call(r.cluster, redisx.Slot(key))
	w.ref = sc.add('l', 2, key+":"+strconv.FormatInt(idx, 10), key+":"+strconv.FormatInt(idx-1, 10),
		ttl.Milliseconds(), limit)
	w.weight = 1 - float64(nowMs%spanMs)/float64(spanMs)
	w.limit = int64(limit)
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
	if !c.hasWindows {
		return nil
	}
	own, err := c.own.val(0)
	if err != nil {
		return err
	}
	dup, err := c.dup.val(0)
	if err != nil {
		return err
	}
	out.OwnVisitor, out.Duplicate = own == 1, dup == 1
	if out.VisitorLimited, err = c.vis.over(); err != nil {
		return err
	}
	if out.IPLimited, err = c.ip.over(); err != nil {
		return err
	}
	if c.pcap.ref.call != nil {
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
