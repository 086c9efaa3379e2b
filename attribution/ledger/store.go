package ledger

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/partners"
)

// The ledger's Redis layout. Every key of one referral carries the user id as its hash
// tag, so ledger.lua touches one Cluster slot:
//
//	<prefix>ref:{<user>}    hash  the referral: registration, partner, deadlines, state, facts
//	<prefix>lines:{<user>}  hash  commission line key -> line (idempotency and reversal)
//	<prefix>cand:{<user>}   hash  lines waiting for a registration or an activation (TTL)
//	<prefix>out:{<user>}    hash  outbox: events produced by a script, until Kafka acks them,
//	                              and the mark of the attempt producing each
//	<prefix>snd:{<mark>}    string output topic ends when that attempt began (TTL)
//	<prefix>ord:{<order>}   hash  buyer and seller of an order that may have earned, and the
//	                              refund time if a refund came first (TTL)
//	<prefix>plog:{<partner>} zset the partner's status history, "ms:status" scored by time
//	<prefix>due:{<n>}       zset  referral deadlines for the sweeper, by shard
type storeKeys struct{ prefix string }

func (k storeKeys) rec(u string) string { return k.prefix + "ref:{" + u + "}" }

func (k storeKeys) user(u string) []string {
	tag := "{" + u + "}"
	return []string{k.prefix + "ref:" + tag, k.prefix + "lines:" + tag, k.prefix + "cand:" + tag, k.prefix + "out:" + tag}
}

func (k storeKeys) out(u string) string        { return k.prefix + "out:{" + u + "}" }
func (k storeKeys) order(o string) string      { return k.prefix + "ord:{" + o + "}" }
func (k storeKeys) partnerLog(p string) string { return k.prefix + "plog:{" + p + "}" }
func (k storeKeys) sending(mark string) string { return k.prefix + "snd:{" + mark + "}" }
func (k storeKeys) due(shard int) string       { return k.prefix + "due:{" + strconv.Itoa(shard) + "}" }

//go:embed ledger.lua
var ledgerLua string

var (
	ledgerScript = redis.NewScript(ledgerLua)

	// orderRefundScript records one refund (field "r:<event id>" = "<ms>|<amount>", the
	// amount empty for all of it; a redelivery changes nothing) and returns {buyer,
	// seller, field, value, field, value, ...}: every refund of the order so far. Buyer
	// and seller are "" when the completion has not been seen, and the record then lives
	// only as long as a parked event.
	orderRefundScript = redis.NewScript(`
redis.call('HSETNX', KEYS[1], 'r:' .. ARGV[1], ARGV[2])
local h = redis.call('HGETALL', KEYS[1])
local b, s, out = '', '', {}
for i = 1, #h, 2 do
  if h[i] == 'b' then b = h[i + 1] elseif h[i] == 's' then s = h[i + 1]
  elseif h[i] == 'rf' or string.sub(h[i], 1, 2) == 'r:' then
    out[#out + 1] = h[i]
    out[#out + 1] = h[i + 1]
  end
end
if b == '' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
table.insert(out, 1, s)
table.insert(out, 1, b)
return out`)

	ledgerScripts = []*redis.Script{ledgerScript, orderRefundScript, claimScript, releaseScript}
)

// loadScripts loads every ledger script (on every shard of a cluster), so pipelines can
// use EVALSHA.
func loadScripts(ctx context.Context, rdb redis.UniversalClient) error {
	for _, s := range ledgerScripts {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("cannot load ledger script into Redis: %w", err)
		}
	}
	return nil
}

func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// opCtx is the context of one ledger.lua call. Every value is a string (see ledger.lua).
type opCtx struct {
	Src   string      `json:"src"`
	User  string      `json:"u"`
	Known string      `json:"known"`
	EP    string      `json:"ep"`
	PUID  string      `json:"puid"`
	PSt   string      `json:"pst"`
	PLog  [][2]string `json:"plog"`
	MS    []msParam   `json:"ms"`
	PTTL  string      `json:"pttl"`
	LTTL  string      `json:"lttl"`
}

// msParam is one milestone program as the script applies it to a referral.
type msParam struct {
	ID     string `json:"id"`
	Cur    string `json:"cur"`
	Th     string `json:"th"`
	Bounty string `json:"bounty"`
	From   string `json:"from"`
	Until  string `json:"until"`
	DL     string `json:"dl"`
}

// lineArg is a commission line as computed from an order, before the ledger decides it.
type lineArg struct {
	Key      string `json:"key"`
	Role     string `json:"role"`
	OrderID  string `json:"o"`
	Buyer    string `json:"buyer"`
	Seller   string `json:"seller"`
	Base     string `json:"b"`
	Rate     string `json:"rate"`
	Rounding string `json:"rnd"`
	Amount   string `json:"amt"`
	Currency string `json:"cur"`
	Program  string `json:"prog"`
	AtMS     string `json:"t"`
	// PaidAtMS is when the buyer paid (Unix ms), or "": activation uses it.
	PaidAtMS string `json:"pa"`
	// Refunds are the order's refunds known when the line is decided.
	Refunds []refundArg `json:"rfs"`
}

// refundArg is one refund of an order: its event id, time (Unix ms) and the refunded
// part of the main-balance payment in minor units ("" for all of it).
type refundArg struct {
	ID     string `json:"id"`
	AtMS   string `json:"t"`
	Amount string `json:"amt"`
}

// parseRefunds reads the refunds an order record holds: field "r:<id>" = "<ms>|<amount>";
// "rf" = "<ms>" is a whole refund recorded by an earlier version of the ledger.
func parseRefunds(fields []string) []refundArg {
	out := []refundArg{}
	for i := 0; i+1 < len(fields); i += 2 {
		f, v := fields[i], fields[i+1]
		switch {
		case f == "rf":
			out = append(out, refundArg{ID: "rf", AtMS: v})
		case strings.HasPrefix(f, "r:"):
			t, amt, _ := strings.Cut(v, "|")
			out = append(out, refundArg{ID: f[2:], AtMS: t, Amount: amt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type regArg struct {
	R   string `json:"r"`
	P   string `json:"p"`
	C   string `json:"c"`
	V   string `json:"v"`
	AD  string `json:"ad"`
	XD  string `json:"xd"`
	Why string `json:"why"`
}

type revArg struct {
	Key string      `json:"key"`
	RFs []refundArg `json:"rfs"`
}

type factArg struct {
	T     string `json:"t"`
	Kwork string `json:"kwork"`
}

type tickArg struct {
	T string `json:"t"`
}

// userOp is one ledger.lua call and its result.
type userOp struct {
	op   string
	user string
	ctx  opCtx
	arg  any
	ev   *inEvent

	outcome string
	retry   bool
	err     error // the script failed for this op alone (a bug, not an outage)
	entries []outEntry
}

// outEntry is one outbox entry: an event to produce, then to delete from the outbox.
type outEntry struct {
	user string
	id   string
	ev   outboxEvent
	// mark is the claim of the attempt that last started producing the entry, "<id>|<lease
	// until>", or "".
	mark string
	// owned: this process made that claim, for this very batch.
	owned bool
}

// outboxEvent is an output event as ledger.lua writes it.
type outboxEvent struct {
	Seq                  string `json:"n"`
	Type                 string `json:"type"`
	OccurredAtMS         string `json:"occ"`
	UserID               string `json:"u"`
	PartnerID            string `json:"p"`
	ClickID              string `json:"c"`
	State                string `json:"st"`
	RegisteredAtMS       string `json:"r"`
	ActivationDeadlineMS string `json:"ad"`
	ExpiresAtMS          string `json:"xd"`
	ActivatedAtMS        string `json:"a"`
	Cause                string `json:"cause"`
	Key                  string `json:"key"`
	OrderID              string `json:"o"`
	Role                 string `json:"role"`
	Base                 string `json:"b"`
	Rate                 string `json:"rate"`
	Amount               string `json:"amt"`
	Currency             string `json:"cur"`
	Program              string `json:"prog"`
	Reverses             string `json:"rev"`
}

// opShards is how many pipelines run a batch's ops at once. Ops of one user always share
// a pipeline, which keeps them in order; spreading users keeps Redis busy while the
// client encodes and decodes.
const opShards = 4

// runOps runs ops, those of one user in order. A transport error fails the whole call
// (the batch is retried; every op is idempotent); a script error fails only its op.
func (k storeKeys) runOps(ctx context.Context, rdb redis.UniversalClient, ops []*userOp) error {
	if len(ops) < 64 {
		return k.runPipeline(ctx, rdb, ops)
	}
	var shards [opShards][]*userOp
	for _, o := range ops {
		i := dueShard(o.user) % opShards
		shards[i] = append(shards[i], o)
	}
	errs := make([]error, opShards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.runPipeline(ctx, rdb, shards[i])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (k storeKeys) runPipeline(ctx context.Context, rdb redis.UniversalClient, ops []*userOp) error {
	if len(ops) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(ops))
		for i, o := range ops {
			c, err := json.Marshal(o.ctx)
			if err != nil {
				return err
			}
			a, err := json.Marshal(o.arg)
			if err != nil {
				return err
			}
			cmds[i] = ledgerScript.EvalSha(ctx, pipe, k.user(o.user), o.op, c, a)
		}
		_, err := pipe.Exec(ctx)
		if isNoScript(err) && attempt == 0 {
			if err := loadScripts(ctx, rdb); err != nil {
				return err
			}
			continue
		}
		for i, cmd := range cmds {
			if err := parseOpResult(ops[i], cmd); err != nil {
				return err
			}
		}
		return nil
	}
}

func parseOpResult(o *userOp, cmd *redis.Cmd) error {
	o.outcome, o.retry, o.err, o.entries = "", false, nil, o.entries[:0]
	res, err := cmd.Slice()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && !isNoScript(err) && strings.Contains(err.Error(), "script") {
			o.err = err
			return nil
		}
		return fmt.Errorf("ledger script for user %s: %w", o.user, err)
	}
	if len(res) == 0 || len(res)%3 != 1 {
		return fmt.Errorf("ledger script for user %s: malformed reply of %d items", o.user, len(res))
	}
	o.outcome, _ = res[0].(string)
	if o.outcome == "retry" {
		o.retry = true
		return nil
	}
	for i := 1; i < len(res); i += 3 {
		id, _ := res[i].(string)
		raw, _ := res[i+1].(string)
		mark, _ := res[i+2].(string)
		e := outEntry{user: o.user, id: id, mark: mark}
		if err := json.Unmarshal([]byte(raw), &e.ev); err != nil {
			return fmt.Errorf("ledger outbox entry %s of user %s: %w", id, o.user, err)
		}
		o.entries = append(o.entries, e)
	}
	sort.SliceStable(o.entries, func(i, j int) bool { return atoi64(o.entries[i].ev.Seq) < atoi64(o.entries[j].ev.Seq) })
	return nil
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// recView is what the caller reads of a referral before choosing partner facts.
type recView struct {
	reg     bool
	partner string
	r       int64
}

func readRec(cmd *redis.SliceCmd) recView {
	v, err := cmd.Result()
	if err != nil || len(v) < 3 {
		return recView{}
	}
	s := func(i int) string { x, _ := v[i].(string); return x }
	return recView{reg: s(0) == "1", partner: s(1), r: atoi64(s(2))}
}

func (k storeKeys) queueRecRead(ctx context.Context, pipe redis.Pipeliner, u string) *redis.SliceCmd {
	return pipe.HMGet(ctx, k.rec(u), "reg", "p", "r")
}

// Partner standings, as the ledger's partner history records them: program rule 1 lets
// only partners in good standing with a confirmed email take part.
const (
	standingActive      = "active"
	standingBlocked     = "blocked"
	standingUnconfirmed = "unconfirmed"
)

// partnerStanding returns a partner's standing from its status and email confirmation.
func partnerStanding(status string, emailConfirmed bool) string {
	switch {
	case status == string(partners.Blocked):
		return standingBlocked
	case !emailConfirmed:
		return standingUnconfirmed
	}
	return standingActive
}

// partnerFacts is what the ledger knows of a partner: its account and standing history.
type partnerFacts struct {
	known  bool
	userID string
	status string      // the current standing
	log    [][2]string // {ms, standing}, oldest first
	// visitor is the visitor id the partner's own account registered with.
	visitor string

	hash *redis.MapStringStringCmd
	zlog *redis.StringSliceCmd
}

// statusAt returns the standing at ms, as standing_at in ledger.lua.
func (pf *partnerFacts) statusAt(ms int64) string {
	if len(pf.log) == 0 {
		return pf.status
	}
	st := pf.log[0][1]
	for _, e := range pf.log {
		if atoi64(e[0]) > ms {
			break
		}
		st = e[1]
	}
	return st
}

// queuePartners queues reads of the facts of every partner in ids.
func (k storeKeys) queuePartners(ctx context.Context, pipe redis.Pipeliner, ids map[string]*partnerFacts) {
	for id, pf := range ids {
		pf.hash = pipe.HGetAll(ctx, partners.Key(id))
		pf.zlog = pipe.ZRange(ctx, k.partnerLog(id), 0, -1)
	}
}

// finishPartners fills facts from the queued reads.
func finishPartners(ids map[string]*partnerFacts) error {
	for id, pf := range ids {
		h, err := pf.hash.Result()
		if err != nil {
			return fmt.Errorf("cannot read partner %s: %w", id, err)
		}
		pf.known = len(h) > 0
		pf.userID, pf.status = h["user_id"], partnerStanding(h["status"], h["email_confirmed"] == "true")
		members, err := pf.zlog.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("cannot read partner %s history: %w", id, err)
		}
		pf.log = pf.log[:0]
		for _, m := range members {
			ms, st, ok := strings.Cut(m, ":")
			if ok {
				pf.log = append(pf.log, [2]string{ms, st})
			}
		}
		// ZRANGE orders by score; equal scores keep member order, which is fine: two
		// statuses at the same millisecond are a tie either way.
	}
	return nil
}
