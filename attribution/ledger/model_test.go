package ledger

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// ledgerModel is the reference model of the ledger's program rules (/tmp/ledger-spec.md,
// "Ledger rules"): a plain fold over input events in delivery order. No Redis, no Lua, no
// concurrency, no I/O: each rule of the spec is one obvious piece of code below, so that
// the differential test (diff_test.go) can compare the real ledger against it.
//
// Its output is the list of events the ledger must produce, in the shape the tests read
// back from Kafka (outEvent), without envelope ids.
type ledgerModel struct {
	rules *rules.Rules
	keys  *signing.Keyring

	revoked  map[string]bool // click ids marked revoked (rfe:revoked:{click})
	partners map[string]*mPartner
	users    map[string]*mUser
	orders   map[string]*mOrder
	refunds  map[string]bool // envelope ids of refunds seen (re-deliveries are ignored)

	out []outEvent
	// stats counts the rules applied (signup outcomes, line decisions), so that a run can
	// show what its histories exercised.
	stats map[string]int
}

// modelInput is one input as the model folds it: a Kafka message's value as produced, or
// (Revoke set) the tracker marking a click revoked in Redis.
type modelInput struct {
	Topic  string
	Value  []byte
	Revoke string
}

type mStanding struct {
	at       time.Time
	standing string // active | blocked | unconfirmed
}

type mPartner struct {
	hist   []mStanding // in arrival order
	userID string
	userAt time.Time // time of the partner.upserted userID comes from
}

type mUser struct {
	id         string
	registered bool
	referred   bool
	visitor    string

	partner, click string
	r, ad, xd      time.Time
	state          string
	activated      bool
	a              time.Time
	cause          string

	hw    time.Time // newest event time seen for this user (as a referral)
	hasHW bool
	// parkedHW is the newest time of the events seen before the registration (parked
	// lines and facts): it joins hw once they are released.
	parkedHW time.Time
	fact     *time.Time // earliest kwork activation fact

	lines map[string]*mLine
	ms    map[string]*mMilestone
}

// Line statuses.
const (
	mParked  = 'P' // the user's registration is not known yet
	mWaiting = 'W' // not active yet
	mAccrued = 'A'
	mRevers  = 'R' // accrued and wholly reversed
	mDropped = 'D'
)

type mLine struct {
	key, role, order, buyer, seller string
	cur, prog                       string
	base                            int64
	rate                            uint32
	rounding                        rules.Rounding
	amount                          int64
	t                               time.Time
	paidAt                          *time.Time

	status  byte
	why     string          // for D
	rb      int64           // refunded base
	waitRF  []mStep         // refunds applied while waiting, reversed when the line pays
	nrev    int             // reversal events emitted
	applied map[string]bool // refund envelope ids applied
	ms      []string        // milestone programs this line counted towards
}

// mStep is one refund applied to a waiting line: refunded base old -> new at rt.
type mStep struct {
	old, new int64
	rt       time.Time
}

type mMilestone struct {
	total  int64
	open   string // key of the open (accrued, not reversed) bounty, or ""
	n      int
	bounty map[string]event.CommissionPayload // key -> the accrual's payload
}

type mRefund struct {
	id     string
	rt     time.Time
	amount *int64
}

type mOrder struct {
	refunds []mRefund
	lines   [][2]string // {user, key} of every line recorded for the order
}

func newLedgerModel(rules *rules.Rules, keys *signing.Keyring) *ledgerModel {
	return &ledgerModel{rules: rules, keys: keys, revoked: map[string]bool{}, partners: map[string]*mPartner{},
		users: map[string]*mUser{}, orders: map[string]*mOrder{}, refunds: map[string]bool{}, stats: map[string]int{}}
}

// modelRun folds inputs and returns the events the ledger must produce.
func modelRun(rules *rules.Rules, keys *signing.Keyring, inputs []modelInput) []outEvent {
	out, _ := modelRunStats(rules, keys, inputs)
	return out
}

// modelRunStats also returns how often each rule applied.
func modelRunStats(rules *rules.Rules, keys *signing.Keyring, inputs []modelInput) ([]outEvent, map[string]int) {
	m := newLedgerModel(rules, keys)
	for _, in := range inputs {
		m.apply(in)
	}
	return m.out, m.stats
}

func msTrunc(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// apply folds one input. Anything that does not decode is what the ledger dead-letters:
// no effect.
func (m *ledgerModel) apply(in modelInput) {
	if in.Revoke != "" {
		m.revoked[in.Revoke] = true
		return
	}
	var env event.Envelope
	if err := json.Unmarshal(in.Value, &env); err != nil {
		return
	}
	at := msTrunc(env.OccurredAt)
	switch env.Type {
	case event.TypePartnerUpserted:
		var p event.PartnerUpserted
		if json.Unmarshal(env.Payload, &p) == nil {
			m.partnerUpserted(&p, at)
		}
	case event.TypeUserRegistered:
		var p event.UserRegistered
		if json.Unmarshal(env.Payload, &p) == nil {
			m.register(&p, at)
		}
	case event.TypeKworkModerated:
		var p event.KworkModerated
		if json.Unmarshal(env.Payload, &p) == nil && p.Approved {
			m.kwork(p.SellerID, at)
		}
	case event.TypeKworkUpserted:
		var p event.KworkUpserted
		if json.Unmarshal(env.Payload, &p) == nil && p.Status == "active" {
			m.kwork(p.SellerID, at)
		}
	case event.TypeOrderCompleted:
		var p event.OrderCompleted
		if json.Unmarshal(env.Payload, &p) == nil {
			m.order(&p, at)
		}
	case event.TypeOrderRefunded:
		var p event.OrderRefunded
		if json.Unmarshal(env.Payload, &p) == nil {
			m.refund(env.ID, &p, at)
		}
	}
}

// --- partners ---

func standingOf(p *event.PartnerUpserted) string {
	switch {
	case p.Status == "blocked":
		return "blocked"
	case !p.EmailConfirmed:
		return "unconfirmed"
	}
	return "active"
}

func (m *ledgerModel) partnerUpserted(p *event.PartnerUpserted, at time.Time) {
	pt := m.partners[p.PartnerID]
	if pt == nil {
		pt = &mPartner{}
		m.partners[p.PartnerID] = pt
	}
	pt.hist = append(pt.hist, mStanding{at: at, standing: standingOf(p)})
	if pt.userID == "" || !at.Before(pt.userAt) {
		pt.userID, pt.userAt = p.UserID, at
	}
}

// standingAt is the standing of the latest history entry at or before t; before every
// entry, the oldest entry's; "" when the partner is unknown.
func (m *ledgerModel) standingAt(partner string, t time.Time) string {
	pt := m.partners[partner]
	if pt == nil || len(pt.hist) == 0 {
		return ""
	}
	h := append([]mStanding(nil), pt.hist...)
	sort.SliceStable(h, func(i, j int) bool { return h[i].at.Before(h[j].at) })
	st := h[0].standing
	for _, e := range h {
		if e.at.After(t) {
			break
		}
		st = e.standing
	}
	return st
}

func (m *ledgerModel) partnerUser(partner string) string {
	if pt := m.partners[partner]; pt != nil {
		return pt.userID
	}
	return ""
}

// --- users ---

func (m *ledgerModel) user(id string) *mUser {
	u := m.users[id]
	if u == nil {
		u = &mUser{id: id, lines: map[string]*mLine{}, ms: map[string]*mMilestone{}}
		m.users[id] = u
	}
	return u
}

func (u *mUser) see(t time.Time) {
	if !u.hasHW || t.After(u.hw) {
		u.hw, u.hasHW = t, true
	}
}

func (u *mUser) park(t time.Time) {
	if t.After(u.parkedHW) {
		u.parkedHW = t
	}
}

// refusal returns why a signup is not referred, or the partner and click it is referred by.
func (m *ledgerModel) refusal(p *event.UserRegistered, r time.Time) (partner, click, why string) {
	if p.Attribution == "" {
		return "", "", "no_cookie"
	}
	ref, err := refcookie.Decode([]byte(p.Attribution), m.keys)
	if err != nil {
		return "", "", "bad_cookie"
	}
	if ref.Time.After(m.rules.Attribution.ClockSkew.After(r)) {
		return "", "", "click_after_signup"
	}
	if r.After(m.rules.Attribution.Window.After(ref.Time)) {
		return "", "", "click_expired"
	}
	partner, click = string(ref.Partner), string(ref.ClickID)
	if m.revoked[click] {
		return "", "", "click_revoked"
	}
	switch m.standingAt(partner, r) {
	case "":
		return "", "", "unknown_partner"
	case "blocked":
		return "", "", "blocked_partner"
	case "unconfirmed":
		return "", "", "unconfirmed_partner"
	}
	own := m.partnerUser(partner)
	if own != "" && own == p.UserID {
		return "", "", "self_referral"
	}
	if ou := m.users[own]; p.VisitorID != "" && own != "" && ou != nil && ou.registered && ou.visitor == p.VisitorID {
		return "", "", "self_referral"
	}
	return partner, click, ""
}

func (m *ledgerModel) register(p *event.UserRegistered, r time.Time) {
	u := m.user(p.UserID)
	if u.registered {
		return // a second registration
	}
	u.registered, u.r, u.visitor = true, r, p.VisitorID
	partner, click, why := m.refusal(p, r)
	m.stats["signup:"+why]++
	if why != "" {
		// Registered, not referred: what was parked never pays.
		for k, l := range u.lines {
			if l.status == mParked {
				delete(u.lines, k)
			}
		}
		return
	}
	u.referred, u.partner, u.click = true, partner, click
	u.ad = m.rules.Referral.ActivationWindow.After(r)
	u.xd = m.rules.Referral.AttachedFor.After(r)
	u.state = event.StatePending
	u.see(r)
	m.emitAttr(u, event.TypeAttributed, r)
	if u.fact != nil {
		m.activate(u, *u.fact, "kwork", true)
	}
	var parked []*mLine
	for _, l := range u.lines {
		if l.status == mParked {
			parked = append(parked, l)
		}
	}
	sortLines(parked)
	for _, l := range parked {
		m.decide(u, l)
	}
	u.see(u.parkedHW)
	m.transitions(u, u.hw)
}

func sortLines(ls []*mLine) {
	sort.Slice(ls, func(i, j int) bool {
		if !ls[i].t.Equal(ls[j].t) {
			return ls[i].t.Before(ls[j].t)
		}
		return ls[i].key < ls[j].key
	})
}

// transitions applies the passage of event time t (lazily: only when an event touches
// the user).
func (m *ledgerModel) transitions(u *mUser, t time.Time) {
	if !u.registered || !u.referred {
		return
	}
	u.see(t)
	if !u.activated {
		if t.After(u.ad) && u.state == event.StatePending {
			u.state = event.StateDetached
			m.stats["detached"]++
			m.emitAttr(u, event.TypeDetached, u.ad)
		}
	} else if t.After(u.xd) && u.state != event.StateExpired {
		u.state = event.StateExpired
		m.stats["expired"]++
		m.emitAttr(u, event.TypeExpired, u.xd)
	}
}

// activate records an activation fact at a; release pays the waiting lines it makes
// payable at once (the order path releases after its own line instead).
func (m *ledgerModel) activate(u *mUser, a time.Time, cause string, release bool) bool {
	if !u.registered || !u.referred || a.After(u.ad) {
		return false
	}
	if u.activated && !a.Before(u.a) {
		return false
	}
	u.activated, u.a, u.cause, u.state = true, a, cause, event.StateActive
	m.stats["activated:"+cause]++
	m.emitAttr(u, event.TypeActivated, a)
	if release {
		m.releaseWaiting(u)
	}
	return true
}

func (m *ledgerModel) releaseWaiting(u *mUser) {
	var ws []*mLine
	for _, l := range u.lines {
		if l.status == mWaiting && !l.t.Before(u.a) {
			ws = append(ws, l)
		}
	}
	sortLines(ws)
	for _, l := range ws {
		m.payWaiting(u, l)
	}
}

// --- kworks ---

func (m *ledgerModel) kwork(seller string, t time.Time) {
	u := m.user(seller)
	if u.registered && !u.referred {
		return
	}
	if u.fact == nil || t.Before(*u.fact) {
		f := t
		u.fact = &f
	}
	if !u.registered {
		u.park(t)
		return
	}
	m.transitions(u, t)
	if m.activate(u, t, "kwork", true) {
		m.transitions(u, u.hw)
	}
}

// --- orders ---

func (m *ledgerModel) orderRec(id string) *mOrder {
	o := m.orders[id]
	if o == nil {
		o = &mOrder{}
		m.orders[id] = o
	}
	return o
}

func (m *ledgerModel) order(o *event.OrderCompleted, t time.Time) {
	prog, buyerBP, sellerBP, rounding := rules.NoProgram, uint32(0), uint32(0), rules.RoundHalfUp
	if p := m.rules.RevenueShareAt(t); p != nil {
		prog, buyerBP, sellerBP, rounding = p.ID, p.BuyerRateBP, p.SellerRateBP, p.Rounding
	}
	var paidAt *time.Time
	if o.PaidAt != nil {
		pa := msTrunc(*o.PaidAt)
		paidAt = &pa
	}
	for _, side := range []struct {
		role, user string
		bp         uint32
	}{{event.RoleBuyer, o.BuyerID, buyerBP}, {event.RoleSeller, o.SellerID, sellerBP}} {
		u := m.user(side.user)
		if u.registered && !u.referred {
			continue
		}
		key := rules.OrderKey(o.OrderID, side.role)
		if u.lines[key] != nil {
			continue // decided or parked already: a duplicate
		}
		l := &mLine{key: key, role: side.role, order: o.OrderID, buyer: o.BuyerID, seller: o.SellerID, cur: o.Currency,
			prog: prog, base: o.AmountMain, rate: side.bp, rounding: rounding, amount: rules.ApplyRate(o.AmountMain, side.bp, rounding),
			t: t, paidAt: paidAt, applied: map[string]bool{}}
		u.lines[key] = l
		rec := m.orderRec(o.OrderID)
		rec.lines = append(rec.lines, [2]string{u.id, key})
		if !u.registered {
			l.status = mParked
			u.park(t)
			continue
		}
		m.decide(u, l)
	}
}

// decide runs steps 2-10 of a line, and what follows it. The passage of the order's time
// (step 2) is applied after a buyer's payment had its chance to activate the referral
// (step 7), so a payment inside the window is never preceded by a detachment.
func (m *ledgerModel) decide(u *mUser, l *mLine) {
	activated := false
	drop := func(why string) { l.status, l.why = mDropped, why; m.stats["line:"+why]++ }
	own := m.partnerUser(u.partner)
	switch {
	case l.base == 0:
		drop("bonus_only")
	case l.buyer == l.seller:
		drop("self_dealing")
	case own != "" && (l.buyer == own || l.seller == own):
		drop("own_order")
	case l.t.After(u.xd):
		drop("expired")
	default:
		if l.role == event.RoleBuyer {
			pa := l.t
			if l.paidAt != nil && !l.paidAt.After(l.t) {
				pa = *l.paidAt
			}
			if pa.Before(u.r) {
				pa = u.r
			}
			activated = m.activate(u, pa, "order", false)
		}
		m.transitions(u, l.t)
		switch m.standingAt(u.partner, l.t) {
		case "blocked":
			drop("withheld_blocked")
		case "unconfirmed":
			drop("withheld_unconfirmed")
		default:
			crossed := m.countMilestones(u, l)
			if u.activated && !u.a.After(l.t) {
				m.stats["line:paid"]++
				l.status = mAccrued
				if l.amount != 0 {
					m.emitComm(event.TypeCommissionAccrued, l.t, m.linePayload(u, l, l.key, ""))
				}
			} else {
				m.stats["line:waiting"]++
				l.status = mWaiting
			}
			for _, c := range crossed {
				m.emitComm(event.TypeCommissionAccrued, l.t, c)
			}
			m.applyKnownRefunds(u, l)
		}
	}
	if l.status == mDropped && !activated {
		m.transitions(u, l.t) // the drops before step 7
	}
	if activated {
		m.releaseWaiting(u)
	}
	m.transitions(u, u.hw)
}

// countMilestones adds the line to every milestone total it counts towards and returns
// the bounties it makes due.
func (m *ledgerModel) countMilestones(u *mUser, l *mLine) []event.CommissionPayload {
	var crossed []event.CommissionPayload
	for _, p := range m.rules.Milestones() {
		if l.cur != p.Currency || !p.InForce(l.t) || l.t.After(p.Window.After(u.r)) {
			continue
		}
		ms := u.ms[p.ID]
		if ms == nil {
			ms = &mMilestone{bounty: map[string]event.CommissionPayload{}}
			u.ms[p.ID] = ms
		}
		ms.total += l.base
		l.ms = append(l.ms, p.ID)
		if ms.open == "" && ms.total >= p.Threshold {
			ms.n++
			key := fmt.Sprintf("milestone:%s:%s:%d", p.ID, u.id, ms.n)
			ms.open = key
			c := event.CommissionPayload{Key: key, PartnerID: u.partner, ReferralUserID: u.id, OrderID: l.order, Role: event.RoleMilestone,
				BaseAmount: ms.total, RateBP: 0, Amount: p.Bounty, Currency: p.Currency, Program: p.ID}
			ms.bounty[key] = c
			m.stats["milestone:crossed"]++
			crossed = append(crossed, c)
		}
	}
	return crossed
}

func (m *ledgerModel) milestone(id string) *rules.Program {
	for _, p := range m.rules.Milestones() {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// payWaiting pays a waiting line an activation made payable: its accrual, then at once
// the reversal of each refund applied meanwhile (each refund is one reversal, stamped with
// its own time, exactly as if the line had been accrued when it came).
func (m *ledgerModel) payWaiting(u *mUser, l *mLine) {
	m.stats["line:waiting_paid"]++
	l.status = mAccrued
	if l.amount != 0 {
		m.emitComm(event.TypeCommissionAccrued, l.t, m.linePayload(u, l, l.key, ""))
	}
	for _, st := range l.waitRF {
		if delta := rules.ApplyRate(st.new, l.rate, l.rounding) - rules.ApplyRate(st.old, l.rate, l.rounding); delta > 0 {
			m.emitReversal(u, l, st.new-st.old, delta, st.rt)
		}
	}
	l.waitRF = nil
	if l.rb == l.base {
		l.status = mRevers
	}
}

func (m *ledgerModel) linePayload(u *mUser, l *mLine, key, reverses string) event.CommissionPayload {
	return event.CommissionPayload{Key: key, PartnerID: u.partner, ReferralUserID: u.id, OrderID: l.order, Role: l.role,
		BaseAmount: l.base, RateBP: l.rate, Amount: l.amount, Currency: l.cur, Program: l.prog, Reverses: reverses}
}

func (m *ledgerModel) emitReversal(u *mUser, l *mLine, base, amount int64, rt time.Time) {
	l.nrev++
	key := rules.ReversalKey(l.key)
	if l.nrev > 1 {
		key = fmt.Sprintf("%s:%d", key, l.nrev)
	}
	c := m.linePayload(u, l, key, l.key)
	c.BaseAmount, c.Amount = base, amount
	m.emitComm(event.TypeCommissionReversed, rt, c)
}

// --- refunds ---

func (m *ledgerModel) refund(envID string, p *event.OrderRefunded, rt time.Time) {
	if m.refunds[envID] {
		return // a re-delivery
	}
	m.refunds[envID] = true
	m.stats["refund"]++
	rf := mRefund{id: envID, rt: rt, amount: p.AmountMain}
	rec := m.orderRec(p.OrderID)
	rec.refunds = append(rec.refunds, rf)
	for _, ul := range rec.lines {
		u := m.users[ul[0]]
		if l := u.lines[ul[1]]; l != nil && (l.status == mAccrued || l.status == mWaiting || l.status == mRevers) {
			m.applyRefund(u, l, rf)
		}
	}
}

// applyKnownRefunds applies the refunds of the line's order not applied to it yet, in
// (refund time, envelope id) order.
func (m *ledgerModel) applyKnownRefunds(u *mUser, l *mLine) {
	rec := m.orders[l.order]
	if rec == nil {
		return
	}
	rs := append([]mRefund(nil), rec.refunds...)
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].rt.Equal(rs[j].rt) {
			return rs[i].rt.Before(rs[j].rt)
		}
		return rs[i].id < rs[j].id
	})
	for _, rf := range rs {
		m.applyRefund(u, l, rf)
	}
}

func (m *ledgerModel) applyRefund(u *mUser, l *mLine, rf mRefund) {
	if l.applied[rf.id] {
		return
	}
	l.applied[rf.id] = true
	old := l.rb
	nb := l.base
	if rf.amount != nil {
		nb = min(l.base, old+*rf.amount)
	}
	if nb <= old {
		return
	}
	l.rb = nb
	switch l.status {
	case mAccrued:
		if nb < l.base {
			m.stats["refund:partial_of_accrued"]++
		}
		if delta := rules.ApplyRate(nb, l.rate, l.rounding) - rules.ApplyRate(old, l.rate, l.rounding); delta > 0 {
			m.emitReversal(u, l, nb-old, delta, rf.rt)
		}
		if nb == l.base {
			l.status = mRevers
		}
	case mWaiting:
		l.waitRF = append(l.waitRF, mStep{old, nb, rf.rt})
	}
	for _, id := range l.ms {
		ms := u.ms[id]
		ms.total -= nb - old
		if p := m.milestone(id); ms.open != "" && p != nil && ms.total < p.Threshold {
			c := ms.bounty[ms.open]
			c.Reverses, c.Key = c.Key, rules.ReversalKey(c.Key)
			m.stats["milestone:reversed"]++
			ms.open = ""
			m.emitComm(event.TypeCommissionReversed, rf.rt, c)
		}
	}
}

// --- output ---

func (m *ledgerModel) emitAttr(u *mUser, typ string, at time.Time) {
	a := &event.AttributionPayload{UserID: u.id, PartnerID: u.partner, ClickID: u.click, State: u.state,
		RegisteredAt: u.r, ActivationDeadline: u.ad, ExpiresAt: u.xd, Cause: u.cause}
	if u.activated {
		t := u.a
		a.ActivatedAt = &t
	}
	m.out = append(m.out, outEvent{Envelope: event.Envelope{Type: typ, Version: 1, OccurredAt: at}, Attr: a})
}

func (m *ledgerModel) emitComm(typ string, at time.Time, c event.CommissionPayload) {
	cc := c
	m.out = append(m.out, outEvent{Envelope: event.Envelope{Type: typ, Version: 1, OccurredAt: at}, Comm: &cc})
}

// describeFull renders an output event as one line with every payload field, time first
// (so that sorted lines read in event-time order).
func describeFull(o outEvent) string {
	const f = "2006-01-02T15:04:05.000"
	at := o.OccurredAt.UTC().Format(f)
	name := o.Type[strings.IndexByte(o.Type, '.')+1:]
	if c := o.Comm; c != nil {
		s := at + " " + name + " " + c.Key
		if c.Reverses != "" {
			s += " reverses=" + c.Reverses
		}
		return s + fmt.Sprintf(" partner=%s user=%s order=%s role=%s base=%d rate=%d amount=%d %s program=%s",
			c.PartnerID, c.ReferralUserID, c.OrderID, c.Role, c.BaseAmount, c.RateBP, c.Amount, c.Currency, c.Program)
	}
	a := o.Attr
	act := "-"
	if a.ActivatedAt != nil {
		act = a.ActivatedAt.UTC().Format(f)
	}
	return fmt.Sprintf("%s %s user=%s partner=%s click=%s state=%s registered=%s ad=%s xd=%s activated=%s cause=%s",
		at, name, a.UserID, a.PartnerID, a.ClickID, a.State, a.RegisteredAt.UTC().Format(f),
		a.ActivationDeadline.UTC().Format(f), a.ExpiresAt.UTC().Format(f), act, a.Cause)
}
