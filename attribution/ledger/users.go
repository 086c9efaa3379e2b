package ledger

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
)

// users attributes signups: the verified rfe_ref cookie names the partner unless a
// program rule refuses it.
func (l *ledger) users(ctx context.Context, evs []*inEvent) ([]*userOp, error) {
	type job struct {
		ev                  *inEvent
		p                   *event.UserRegistered
		partner, click, why string
		revoked             *redis.IntCmd
	}
	jobs := make([]job, len(evs))
	facts := map[string]*partnerFacts{}
	for i, ev := range evs {
		j := job{ev: ev, p: ev.payload.(*event.UserRegistered)}
		j.partner, j.click, j.why = l.verifyCookie(j.p.Attribution, ev.at)
		if j.partner != "" && facts[j.partner] == nil {
			facts[j.partner] = &partnerFacts{}
		}
		jobs[i] = j
	}
	if len(facts) > 0 {
		pipe := l.rdb.Pipeline()
		l.k.queuePartners(ctx, pipe, facts)
		// A click the verification beacon revoked never attributes, even when its
		// cookie survived (program rule 6): the tracker marks it in Redis.
		for i := range jobs {
			if jobs[i].click != "" {
				jobs[i].revoked = pipe.Exists(ctx, refcookie.RevokedKey(jobs[i].click))
			}
		}
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
			case j.revoked != nil && j.revoked.Val() > 0:
				j.why = "click_revoked"
			case !pf.known:
				j.why = "unknown_partner"
			case pf.statusAt(j.ev.atMS) == standingBlocked:
				j.why = "blocked_partner"
			case pf.statusAt(j.ev.atMS) == standingUnconfirmed:
				j.why = "unconfirmed_partner"
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
