package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
)

// orders accrues commission lines for completed orders and reverses refunded ones.
func (l *ledger) orders(ctx context.Context, evs []*inEvent) ([]*userOp, error) {
	type job struct {
		ev            *inEvent
		done          *event.OrderCompleted
		ref           *event.OrderRefunded
		lines         []rules.CommissionLine
		buyer, seller *redis.SliceCmd
		bv, sv        recView
		refund        *redis.Cmd
		mapped        *redis.MapStringStringCmd
	}
	jobs := make([]job, len(evs))
	pttl, _ := strconv.Atoi(l.pttl)
	lttl, _ := strconv.Atoi(l.lttl)
	// Step 1: who are the buyer and seller to the ledger; refunds find their order.
	pipe := l.rdb.Pipeline()
	for i, ev := range evs {
		j := job{ev: ev}
		switch p := ev.payload.(type) {
		case *event.OrderCompleted:
			j.done = p
			j.lines = l.rules.OrderLines(p, ev.at)
			if len(j.lines) > 0 {
				j.buyer = l.k.queueRecRead(ctx, pipe, p.BuyerID)
				j.seller = l.k.queueRecRead(ctx, pipe, p.SellerID)
			}
		case *event.OrderRefunded:
			j.ref = p
			amt := ""
			if p.AmountMain != nil {
				amt = itoa64(*p.AmountMain)
			}
			j.refund = orderRefundScript.EvalSha(ctx, pipe, []string{l.k.order(p.OrderID)}, ev.env.ID, itoa64(ev.atMS)+"|"+amt, pttl)
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
		// Plain commands, no script: a refund records itself before it reads b and s, this
		// sets b and s before it reads the refunds, so at least one of the two sees the
		// other (both may: each refund applies once per line, by its event id).
		ok := l.k.order(j.done.OrderID)
		pipe.HSet(ctx, ok, "b", j.done.BuyerID, "s", j.done.SellerID)
		pipe.Expire(ctx, ok, time.Duration(lttl)*time.Second)
		j.mapped = pipe.HGetAll(ctx, ok)
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
			var fields []string
			for f, v := range j.mapped.Val() {
				fields = append(fields, f, v)
			}
			rfs := parseRefunds(fields)
			for k := range j.lines {
				line := &j.lines[k]
				v := j.bv
				if line.Role == event.RoleSeller {
					v = j.sv
				}
				if v.reg && v.partner == "" {
					continue
				}
				ops = append(ops, &userOp{op: "line", user: line.UserID, ctx: l.opCtx(j.ev, line.UserID, v, facts),
					arg: newLineArg(line, j.done, j.ev.atMS, rfs), ev: j.ev})
			}
		case j.refund != nil:
			res, err := j.refund.StringSlice()
			if err != nil || len(res) < 2 {
				return nil, fmt.Errorf("order refund script: %v", err)
			}
			buyer, seller, rfs := res[0], res[1], parseRefunds(res[2:])
			if buyer == "" {
				continue // the completion has not been seen, or could not earn: it will reverse itself
			}
			for _, r := range []struct{ user, role string }{{buyer, event.RoleBuyer}, {seller, event.RoleSeller}} {
				c := opCtx{Src: j.ev.env.ID, User: r.user, PTTL: l.pttl, LTTL: l.lttl, PLog: [][2]string{}, MS: []msParam{}}
				ops = append(ops, &userOp{op: "rev", user: r.user, ctx: c,
					arg: revArg{Key: rules.OrderKey(j.ref.OrderID, r.role), RFs: rfs}, ev: j.ev})
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
