package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
)

// Input kinds: one consumer each.
const (
	kindPartners = "partners"
	kindUsers    = "users"
	kindKworks   = "kworks"
	kindOrders   = "orders"
)

var kindTopic = map[string]string{kindPartners: event.TopicPartners, kindUsers: event.TopicUsers, kindKworks: event.TopicKworks, kindOrders: event.TopicOrders}

// ledger applies the core's facts to the referral ledger. A batch goes through the same
// steps whatever its topic: decode and validate (the invalid go to the dead-letter
// topic), read what the decisions need, run ledger.lua once per referral touched,
// produce the events the scripts put in their outboxes, then clear those outboxes.
type ledger struct {
	rules   *rules.Rules
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
	env     event.Envelope
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
	allowed := event.LedgerInputTypes[kindTopic[kind]]
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
	case event.TypePartnerUpserted:
		ev.payload = new(event.PartnerUpserted)
	case event.TypeUserRegistered:
		ev.payload = new(event.UserRegistered)
	case event.TypeKworkUpserted:
		ev.payload = new(event.KworkUpserted)
	case event.TypeKworkModerated:
		ev.payload = new(event.KworkModerated)
	case event.TypeKworkRemoved:
		ev.payload = new(event.KworkRemoved)
	case event.TypeOrderCompleted:
		ev.payload = new(event.OrderCompleted)
	case event.TypeOrderRefunded:
		ev.payload = new(event.OrderRefunded)
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
		case event.TypeAttributed:
			pipe.ZAdd(ctx, due, redis.Z{Score: float64(atoi64(e.ev.ActivationDeadlineMS)), Member: e.user})
		case event.TypeActivated:
			pipe.ZAdd(ctx, due, redis.Z{Score: float64(atoi64(e.ev.ExpiresAtMS)), Member: e.user})
		case event.TypeDetached, event.TypeExpired:
			pipe.ZRem(ctx, due, e.user)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot clear %d produced events from the ledger outbox: %w", len(entries), err)
	}
	return nil
}
