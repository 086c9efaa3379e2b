package ledger

import (
	"context"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/event"
)

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
		case *event.KworkModerated:
			if p.Approved {
				j = job{ev: ev, seller: p.SellerID, kwork: p.KworkID}
			}
		case *event.KworkUpserted:
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
