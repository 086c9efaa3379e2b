package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// Input kinds: one consumer each.
const (
	kindPartners = "partners"
	kindUsers    = "users"
	kindKworks   = "kworks"
	kindOrders   = "orders"
)

var kindTopic = map[string]string{kindPartners: TopicPartners, kindUsers: TopicUsers, kindKworks: TopicKworks, kindOrders: TopicOrders}

// ledger applies the core's facts to the referral ledger. A batch goes through the same
// steps whatever its topic: decode and validate (the invalid go to the dead-letter
// topic), read what the decisions need, run ledger.lua once per referral touched,
// produce the events the scripts put in their outboxes, then clear those outboxes.
type ledger struct {
	rules   *Rules
	keyring *signing.Keyring
	rdb     redis.UniversalClient
	k       storeKeys
	reg     *partners.Registry
	schemas *EventSchemas
	out     *ledgerWriters
	log     *slog.Logger

	pttl, lttl string // seconds, for the scripts
	parkTTL    time.Duration
	lease      time.Duration // see produceOnce
	keepDue    bool          // keep the due index for the sweeper

	// hook, when set (tests), runs at each stage of a batch; an error stops the batch.
	hook func(kind, stage string) error
	// watermark is the newest occurred_at consumed, in Unix ms.
	watermark atomic.Int64
}

// inEvent is a decoded, valid input event.
type inEvent struct {
	msg     *kafka.Message
	env     Envelope
	at      time.Time
	atMS    int64
	payload any
}

type deadLetter struct {
	msg    *kafka.Message
	reason string
}

// handler returns the batch handler of one input kind.
func (l *ledger) handler(kind string) BatchHandler {
	return func(ctx context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
		evs, dead := l.decode(kind, msgs)
		ops, err := l.process(ctx, kind, evs)
		if err != nil {
			return nil, err
		}
		for _, o := range ops {
			if o.err != nil && !slices.ContainsFunc(dead, func(d deadLetter) bool { return d.msg == o.ev.msg }) {
				l.log.Error("ledger script failed on an event; dead-lettering it", "topic", o.ev.msg.Topic,
					"offset", o.ev.msg.Offset, "type", o.ev.env.Type, "err", o.err)
				dead = append(dead, deadLetter{o.ev.msg, "ledger script failed: " + o.err.Error()})
			}
		}
		entries := collectEntries(ops)
		if err := l.stage(kind, "effects"); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			claimed, err := l.produceOnce(ctx, &entries)
			if err != nil {
				return err
			}
			if err := l.stage(kind, "produced"); err != nil {
				return err
			}
			if err := l.ack(ctx, claimed); err != nil {
				return err
			}
			if err := l.stage(kind, "acked"); err != nil {
				return err
			}
			return l.out.deadLetter(ctx, dead)
		}, nil
	}
}

func (l *ledger) stage(kind, stage string) error {
	if l.hook == nil {
		return nil
	}
	return l.hook(kind, stage)
}

// decode validates every message against its type's JSON Schema and decodes the valid.
func (l *ledger) decode(kind string, msgs []kafka.Message) ([]*inEvent, []deadLetter) {
	evs := make([]*inEvent, 0, len(msgs))
	var dead []deadLetter
	allowed := LedgerInputTypes[kindTopic[kind]]
	for i := range msgs {
		m := &msgs[i]
		ev, err := l.decodeOne(m, allowed)
		if err != nil {
			dead = append(dead, deadLetter{m, err.Error()})
			continue
		}
		evs = append(evs, ev)
		ledgerEvents.WithLabelValues(ev.env.Type).Inc()
		for {
			w := l.watermark.Load()
			if ev.atMS <= w || l.watermark.CompareAndSwap(w, ev.atMS) {
				break
			}
		}
	}
	return evs, dead
}

func (l *ledger) decodeOne(m *kafka.Message, allowed []string) (*inEvent, error) {
	typ, err := l.schemas.Validate(m.Value)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(allowed, typ) {
		return nil, fmt.Errorf("event type %q does not belong on this topic (want one of %s)", typ, strings.Join(allowed, ", "))
	}
	ev := &inEvent{msg: m}
	if err := json.Unmarshal(m.Value, &ev.env); err != nil {
		return nil, fmt.Errorf("invalid envelope: %w", err)
	}
	if err := ev.env.Validate(); err != nil {
		return nil, fmt.Errorf("invalid envelope: %w", err)
	}
	switch typ {
	case TypePartnerUpserted:
		ev.payload = new(PartnerUpserted)
	case TypeUserRegistered:
		ev.payload = new(UserRegistered)
	case TypeKworkUpserted:
		ev.payload = new(KworkUpserted)
	case TypeKworkModerated:
		ev.payload = new(KworkModerated)
	case TypeKworkRemoved:
		ev.payload = new(KworkRemoved)
	case TypeOrderCompleted:
		ev.payload = new(OrderCompleted)
	case TypeOrderRefunded:
		ev.payload = new(OrderRefunded)
	}
	if err := json.Unmarshal(ev.env.Payload, ev.payload); err != nil {
		return nil, fmt.Errorf("invalid %s payload: %w", typ, err)
	}
	ev.at = ev.env.OccurredAt.UTC()
	ev.atMS = ev.at.UnixMilli()
	return ev, nil
}

// process runs the kind's steps. An event whose referral got registered while it was
// being handled is handled again (its partner facts were chosen for an unknown user).
func (l *ledger) process(ctx context.Context, kind string, evs []*inEvent) ([]*userOp, error) {
	var all []*userOp
	for attempt := 0; len(evs) > 0; attempt++ {
		if attempt == 5 {
			return nil, errors.New("referrals kept changing while the batch was handled")
		}
		var ops []*userOp
		var err error
		switch kind {
		case kindPartners:
			err = l.partners(ctx, evs)
		case kindUsers:
			ops, err = l.users(ctx, evs)
		case kindKworks:
			ops, err = l.kworks(ctx, evs)
		case kindOrders:
			ops, err = l.orders(ctx, evs)
		}
		if err != nil {
			return nil, err
		}
		var again []*inEvent
		for _, o := range ops {
			if !o.retry {
				all = append(all, o)
				continue
			}
			ledgerRetries.Inc()
			if !slices.Contains(again, o.ev) {
				again = append(again, o.ev)
			}
		}
		evs = again
	}
	return all, nil
}

// exec runs a pipeline of reads and order scripts; after a Redis restart lost the
// scripts it reloads them and fails, so the batch is retried.
func (l *ledger) exec(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	for _, c := range cmds {
		if isNoScript(c.Err()) {
			if lerr := loadScripts(ctx, l.rdb); lerr != nil {
				return lerr
			}
			return fmt.Errorf("redis had lost the ledger scripts (restarted?); reloaded them: %w", c.Err())
		}
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return fmt.Errorf("ledger cannot read Redis: %w", e)
		}
	}
	return nil
}

// opCtx returns the script context for user, given what the caller read of its record.
func (l *ledger) opCtx(ev *inEvent, user string, rv recView, facts map[string]*partnerFacts) opCtx {
	c := opCtx{Src: ev.env.ID, User: user, PTTL: l.pttl, LTTL: l.lttl, PLog: [][2]string{}, MS: []msParam{}}
	if !rv.reg {
		return c
	}
	c.Known, c.EP = "1", rv.partner
	if rv.partner == "" {
		return c
	}
	if pf := facts[rv.partner]; pf != nil {
		c.PUID, c.PSt = pf.userID, pf.status
		if len(pf.log) > 0 {
			c.PLog = pf.log
		}
	}
	c.MS = l.milestoneParams(rv.r)
	return c
}

// milestoneParams returns the milestone programs with their windows for a referral
// registered at r (Unix ms).
func (l *ledger) milestoneParams(r int64) []msParam {
	out := []msParam{}
	reg := time.UnixMilli(r).UTC()
	for _, p := range l.rules.Milestones() {
		m := msParam{ID: p.ID, Cur: p.Currency, Th: itoa64(p.Threshold), Bounty: itoa64(p.Bounty),
			From: "0", Until: "99999999999999", DL: itoa64(p.Window.After(reg).UnixMilli())}
		if p.From != nil {
			m.From = itoa64(p.From.UnixMilli())
		}
		if p.Until != nil {
			m.Until = itoa64(p.Until.UnixMilli())
		}
		out = append(out, m)
	}
	return out
}

// partners stores partner facts: the registry the tracker reads (latest by event time)
// and the status history the ledger evaluates rules against.
func (l *ledger) partners(ctx context.Context, evs []*inEvent) error {
	pipe := l.rdb.Pipeline()
	for _, ev := range evs {
		p := ev.payload.(*PartnerUpserted)
		err := l.reg.Upsert(ctx, partners.Partner{ID: p.PartnerID, UserID: p.UserID, Status: partners.Status(p.Status),
			EmailConfirmed: p.EmailConfirmed, UpdatedAt: ev.at})
		if err != nil {
			return err
		}
		key := l.k.partnerLog(p.PartnerID)
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(ev.atMS), Member: itoa64(ev.atMS) + ":" + p.Status})
		pipe.ZRemRangeByRank(ctx, key, 0, -65) // the newest 64 changes are plenty
	}
	return l.exec(ctx, pipe)
}

// users attributes signups: the verified rfe_ref cookie names the partner unless a
// program rule refuses it.
func (l *ledger) users(ctx context.Context, evs []*inEvent) ([]*userOp, error) {
	type job struct {
		ev                  *inEvent
		p                   *UserRegistered
		partner, click, why string
	}
	jobs := make([]job, len(evs))
	facts := map[string]*partnerFacts{}
	for i, ev := range evs {
		j := job{ev: ev, p: ev.payload.(*UserRegistered)}
		j.partner, j.click, j.why = l.verifyCookie(j.p.Attribution, ev.at)
		if j.partner != "" && facts[j.partner] == nil {
			facts[j.partner] = &partnerFacts{}
		}
		jobs[i] = j
	}
	if len(facts) > 0 {
		pipe := l.rdb.Pipeline()
		l.k.queuePartners(ctx, pipe, facts)
		if err := l.exec(ctx, pipe); err != nil {
			return nil, err
		}
		if err := finishPartners(facts); err != nil {
			return nil, err
		}
		// The visitor the partner's own account registered with: a signup from the same
		// browser is the partner referring themselves.
		pipe = l.rdb.Pipeline()
		vis := map[*partnerFacts]*redis.StringCmd{}
		for _, pf := range facts {
			if pf.userID != "" {
				vis[pf] = pipe.HGet(ctx, l.k.rec(pf.userID), "v")
			}
		}
		if err := l.exec(ctx, pipe); err != nil {
			return nil, err
		}
		for pf, c := range vis {
			pf.visitor = c.Val()
		}
	}
	ops := make([]*userOp, 0, len(jobs))
	for _, j := range jobs {
		if j.partner != "" {
			pf := facts[j.partner]
			switch {
			case !pf.known:
				j.why = "unknown_partner"
			case pf.statusAt(j.ev.atMS) == string(partners.Blocked):
				j.why = "blocked_partner"
			case pf.userID != "" && pf.userID == j.p.UserID:
				j.why = "self_referral"
			case j.p.VisitorID != "" && pf.visitor == j.p.VisitorID:
				j.why = "self_referral"
			}
			if j.why != "" {
				j.partner, j.click = "", ""
			}
		}
		arg := regArg{R: itoa64(j.ev.atMS), P: j.partner, C: j.click, V: j.p.VisitorID, Why: j.why}
		rv := recView{reg: true, partner: j.partner, r: j.ev.atMS}
		if j.partner != "" {
			arg.AD = itoa64(l.rules.Referral.ActivationWindow.After(j.ev.at).UnixMilli())
			arg.XD = itoa64(l.rules.Referral.AttachedFor.After(j.ev.at).UnixMilli())
			ledgerSignups.WithLabelValues("attributed").Inc()
		} else {
			ledgerSignups.WithLabelValues(j.why).Inc()
		}
		ops = append(ops, &userOp{op: "reg", user: j.p.UserID, ctx: l.opCtx(j.ev, j.p.UserID, rv, facts), arg: arg, ev: j.ev})
	}
	return ops, l.k.runOps(ctx, l.rdb, ops)
}

// verifyCookie returns the partner and click of a signup's rfe_ref value, or why it does
// not attribute. Partner standing is checked later, against the partner's history.
func (l *ledger) verifyCookie(v string, at time.Time) (partner, click, why string) {
	if v == "" {
		return "", "", "no_cookie"
	}
	ref, err := refcookie.Decode([]byte(v), l.keyring)
	if err != nil {
		return "", "", "bad_cookie"
	}
	if ref.Time.After(l.rules.Attribution.ClockSkew.After(at)) {
		return "", "", "click_after_signup"
	}
	if at.After(l.rules.Attribution.Window.After(ref.Time)) {
		return "", "", "click_expired"
	}
	return string(ref.Partner), string(ref.ClickID), ""
}

// kworks turns moderation approvals into activation facts for the seller.
func (l *ledger) kworks(ctx context.Context, evs []*inEvent) ([]*userOp, error) {
	type job struct {
		ev            *inEvent
		seller, kwork string
		rec           *redis.SliceCmd
	}
	var jobs []job
	pipe := l.rdb.Pipeline()
	for _, ev := range evs {
		var j job
		switch p := ev.payload.(type) {
		case *KworkModerated:
			if p.Approved {
				j = job{ev: ev, seller: p.SellerID, kwork: p.KworkID}
			}
		case *KworkUpserted:
			if p.Status == "active" { // listed: it went through moderation
				j = job{ev: ev, seller: p.SellerID, kwork: p.KworkID}
			}
		}
		if j.ev != nil {
			j.rec = l.k.queueRecRead(ctx, pipe, j.seller)
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	if err := l.exec(ctx, pipe); err != nil {
		return nil, err
	}
	facts := map[string]*partnerFacts{}
	views := make([]recView, len(jobs))
	for i, j := range jobs {
		views[i] = readRec(j.rec)
		if p := views[i].partner; p != "" && facts[p] == nil {
			facts[p] = &partnerFacts{}
		}
	}
	if err := l.readPartners(ctx, facts); err != nil {
		return nil, err
	}
	ops := make([]*userOp, 0, len(jobs))
	for i, j := range jobs {
		if views[i].reg && views[i].partner == "" {
			continue // not a referral
		}
		ops = append(ops, &userOp{op: "fact", user: j.seller, ctx: l.opCtx(j.ev, j.seller, views[i], facts),
			arg: factArg{T: itoa64(j.ev.atMS), Kwork: j.kwork}, ev: j.ev})
	}
	return ops, l.k.runOps(ctx, l.rdb, ops)
}

func (l *ledger) readPartners(ctx context.Context, facts map[string]*partnerFacts) error {
	if len(facts) == 0 {
		return nil
	}
	pipe := l.rdb.Pipeline()
	l.k.queuePartners(ctx, pipe, facts)
	if err := l.exec(ctx, pipe); err != nil {
		return err
	}
	return finishPartners(facts)
}

// orders accrues commission lines for completed orders and reverses refunded ones.
func (l *ledger) orders(ctx context.Context, evs []*inEvent) ([]*userOp, error) {
	type job struct {
		ev            *inEvent
		done          *OrderCompleted
		ref           *OrderRefunded
		lines         []CommissionLine
		buyer, seller *redis.SliceCmd
		bv, sv        recView
		refund        *redis.Cmd
		mapped        *redis.StringCmd
	}
	jobs := make([]job, len(evs))
	pttl, _ := strconv.Atoi(l.pttl)
	lttl, _ := strconv.Atoi(l.lttl)
	// Step 1: who are the buyer and seller to the ledger; refunds find their order.
	pipe := l.rdb.Pipeline()
	for i, ev := range evs {
		j := job{ev: ev}
		switch p := ev.payload.(type) {
		case *OrderCompleted:
			j.done = p
			j.lines = l.rules.OrderLines(p, ev.at)
			if len(j.lines) > 0 {
				j.buyer = l.k.queueRecRead(ctx, pipe, p.BuyerID)
				j.seller = l.k.queueRecRead(ctx, pipe, p.SellerID)
			}
		case *OrderRefunded:
			j.ref = p
			j.refund = orderRefundScript.EvalSha(ctx, pipe, []string{l.k.order(p.OrderID)}, ev.atMS, pttl)
		}
		jobs[i] = j
	}
	if err := l.exec(ctx, pipe); err != nil {
		return nil, err
	}
	// Step 2: partner facts; record the parties of every order that may earn, so a
	// refund can find them (and learn whether the refund came first).
	facts := map[string]*partnerFacts{}
	pipe = l.rdb.Pipeline()
	for i := range jobs {
		j := &jobs[i]
		if j.done == nil || len(j.lines) == 0 {
			continue
		}
		j.bv, j.sv = readRec(j.buyer), readRec(j.seller)
		notReferred := func(v recView) bool { return v.reg && v.partner == "" }
		if notReferred(j.bv) && notReferred(j.sv) {
			continue
		}
		for _, v := range []recView{j.bv, j.sv} {
			if v.partner != "" && facts[v.partner] == nil {
				facts[v.partner] = &partnerFacts{}
			}
		}
		// Plain commands, no script: the refund sets rf before it reads b and s, this sets
		// b and s before it reads rf, so at least one of the two sees the other (both
		// may: reversal is idempotent).
		ok := l.k.order(j.done.OrderID)
		pipe.HSet(ctx, ok, "b", j.done.BuyerID, "s", j.done.SellerID)
		pipe.Expire(ctx, ok, time.Duration(lttl)*time.Second)
		j.mapped = pipe.HGet(ctx, ok, "rf")
	}
	l.k.queuePartners(ctx, pipe, facts)
	if err := l.exec(ctx, pipe); err != nil {
		return nil, err
	}
	if err := finishPartners(facts); err != nil {
		return nil, err
	}
	// Step 3: one script call per line or reversal.
	var ops []*userOp
	for i := range jobs {
		j := &jobs[i]
		switch {
		case j.mapped != nil:
			rf := j.mapped.Val() // "" when no refund came first (redis.Nil)
			for k := range j.lines {
				line := &j.lines[k]
				v := j.bv
				if line.Role == RoleSeller {
					v = j.sv
				}
				if v.reg && v.partner == "" {
					continue
				}
				ops = append(ops, &userOp{op: "line", user: line.UserID, ctx: l.opCtx(j.ev, line.UserID, v, facts),
					arg: line.arg(j.done, j.ev.atMS, rf), ev: j.ev})
			}
		case j.refund != nil:
			res, err := j.refund.StringSlice()
			if err != nil || len(res) != 3 {
				return nil, fmt.Errorf("order refund script: %v", err)
			}
			buyer, seller, rf := res[0], res[1], res[2]
			if buyer == "" {
				continue // the completion has not been seen, or could not earn: it will reverse itself
			}
			for _, r := range []struct{ user, role string }{{buyer, RoleBuyer}, {seller, RoleSeller}} {
				c := opCtx{Src: j.ev.env.ID, User: r.user, PTTL: l.pttl, LTTL: l.lttl, PLog: [][2]string{}, MS: []msParam{}}
				ops = append(ops, &userOp{op: "rev", user: r.user, ctx: c,
					arg: revArg{Key: OrderKey(j.ref.OrderID, r.role), RT: rf}, ev: j.ev})
			}
		}
	}
	if err := l.k.runOps(ctx, l.rdb, ops); err != nil {
		return nil, err
	}
	for _, o := range ops {
		if a, ok := o.arg.(lineArg); ok && !o.retry {
			outcome, _, _ := strings.Cut(o.outcome, ":")
			if outcome == "drop" {
				outcome = o.outcome
			}
			ledgerLines.WithLabelValues(a.Role, outcome).Inc()
		}
	}
	return ops, nil
}

// collectEntries gathers the ops' outbox entries in order, once each (two ops of one
// event on one user return the same entries).
func collectEntries(ops []*userOp) []outEntry {
	var out []outEntry
	seen := map[string]bool{}
	for _, o := range ops {
		if o.err != nil {
			continue
		}
		for _, e := range o.entries {
			k := e.user + "\x00" + e.id
			if !seen[k] {
				seen[k] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// ack deletes produced events from their outboxes and keeps the sweeper's due index.
func (l *ledger) ack(ctx context.Context, entries []outEntry) error {
	if len(entries) == 0 {
		return nil
	}
	pipe := l.rdb.Pipeline()
	for _, e := range entries {
		pipe.HDel(ctx, l.k.out(e.user), e.id, "~"+e.id)
		if !l.keepDue {
			continue
		}
		due := l.k.due(dueShard(e.user))
		switch e.ev.Type {
		case TypeAttributed:
			pipe.ZAdd(ctx, due, redis.Z{Score: float64(atoi64(e.ev.AD)), Member: e.user})
		case TypeActivated:
			pipe.ZAdd(ctx, due, redis.Z{Score: float64(atoi64(e.ev.XD)), Member: e.user})
		case TypeDetached, TypeExpired:
			pipe.ZRem(ctx, due, e.user)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot clear %d produced events from the ledger outbox: %w", len(entries), err)
	}
	return nil
}
