package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/internal/admin"
)

// Decision statuses: how the ledger decided one commission line (program rule 4: each
// (order, role) is decided once, with its reason).
const (
	DecisionAccrued  = "accrued"  // paid; Reason "paid"
	DecisionReversed = "reversed" // paid, then refunded in full
	DecisionWaiting  = "waiting"  // the referral is not active yet; Reason "not_active"
	DecisionNotPaid  = "not_paid" // decided, nothing paid; Reason names the rule
	DecisionParked   = "parked"   // the user's registration has not been consumed yet
	DecisionRefund   = "refund_first"
)

// Decision is the ledger's record of one commission line.
type Decision struct {
	Key            string    `json:"key"`
	OrderID        string    `json:"order_id"`
	Role           string    `json:"role"`
	ReferralUserID string    `json:"referral_user_id"`
	PartnerID      string    `json:"partner_id,omitempty"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	At             time.Time `json:"at,omitzero"` // the order's time; absent when not decided
	BaseAmount     int64     `json:"base_amount"`
	RateBP         int64     `json:"rate_bp"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency,omitempty"`
	Program        string    `json:"program,omitempty"`
	RefundedBase   int64     `json:"refunded_base"`
	ReversedAmount int64     `json:"reversed_amount"`
	Reversals      int       `json:"reversals"`
}

// storedLine is a line as ledger.lua records it.
type storedLine struct {
	S    string          `json:"s"`
	Why  string          `json:"why"`
	P    string          `json:"p"`
	O    string          `json:"o"`
	Role string          `json:"role"`
	B    string          `json:"b"`
	Rate string          `json:"rate"`
	Amt  string          `json:"amt"`
	Cur  string          `json:"cur"`
	T    string          `json:"t"`
	Prog string          `json:"prog"`
	RB   string          `json:"rb"`
	RA   string          `json:"ra"`
	RN   json.RawMessage `json:"rn"`
}

var lineStatus = map[string]string{"A": DecisionAccrued, "R": DecisionReversed, "W": DecisionWaiting, "D": DecisionNotPaid, "X": DecisionRefund}

// decisionOf converts a stored line (or parked candidate) to a Decision.
func decisionOf(key, user, raw string, parked bool) (Decision, error) {
	var l storedLine
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return Decision{}, fmt.Errorf("ledger line %s of %s: %w", key, user, err)
	}
	d := Decision{Key: key, OrderID: l.O, Role: l.Role, ReferralUserID: user, PartnerID: l.P, Status: lineStatus[l.S],
		Reason: l.Why, BaseAmount: atoi64(l.B), RateBP: atoi64(l.Rate), Amount: atoi64(l.Amt), Currency: l.Cur,
		Program: l.Prog, RefundedBase: atoi64(l.RB), ReversedAmount: atoi64(l.RA)}
	if l.T != "" {
		d.At = msTime(l.T)
	}
	_ = json.Unmarshal(l.RN, &d.Reversals)
	switch {
	case parked:
		d.Status, d.Reason = DecisionParked, "unregistered"
	case l.S == "A" && d.Reason == "":
		d.Reason = "paid" // recorded by an earlier version of the ledger
	}
	if d.Role == "" { // a refund recorded before its line
		d.OrderID, d.Role = orderAndRole(key)
	}
	return d, nil
}

// orderAndRole splits an order line key order:<order>:<role>.
func orderAndRole(key string) (order, role string) {
	k := strings.TrimPrefix(key, "order:")
	i := strings.LastIndexByte(k, ':')
	if i < 0 {
		return k, ""
	}
	return k[:i], k[i+1:]
}

// OrderDecisions is what the ledger decided for one order.
type OrderDecisions struct {
	OrderID  string       `json:"order_id"`
	BuyerID  string       `json:"buyer_id"`
	SellerID string       `json:"seller_id"`
	Refunds  []RefundView `json:"refunds"`
	Lines    []Decision   `json:"lines"`
}

type RefundView struct {
	EventID    string    `json:"event_id"`
	At         time.Time `json:"at"`
	AmountMain *int64    `json:"amount_main"` // null: all of it
}

// errNoRecord: the ledger holds nothing for the order or referral asked about.
var ErrNoRecord = errors.New("the ledger holds no record of it")

// OrderDecisions returns the decisions of order id's lines. The ledger keeps an order's
// parties only when one of them is a referral, for REFEDGE_LEDGER_LINE_TTL.
func (s *Service) OrderDecisions(ctx context.Context, id string) (OrderDecisions, error) {
	k := s.l.k
	h, err := s.rdb.HGetAll(ctx, k.order(id)).Result()
	if err != nil {
		return OrderDecisions{}, fmt.Errorf("cannot read order %s: %w", id, err)
	}
	if h["b"] == "" {
		return OrderDecisions{}, ErrNoRecord
	}
	out := OrderDecisions{OrderID: id, BuyerID: h["b"], SellerID: h["s"], Refunds: []RefundView{}, Lines: []Decision{}}
	fields := make([]string, 0, 2*len(h))
	for f, v := range h {
		fields = append(fields, f, v)
	}
	for _, r := range parseRefunds(fields) {
		v := RefundView{EventID: r.ID, At: msTime(r.AtMS)}
		if r.Amount != "" {
			n := atoi64(r.Amount)
			v.AmountMain = &n
		}
		out.Refunds = append(out.Refunds, v)
	}
	sort.Slice(out.Refunds, func(i, j int) bool { return out.Refunds[i].At.Before(out.Refunds[j].At) })
	for _, p := range []struct{ user, role string }{{out.BuyerID, event.RoleBuyer}, {out.SellerID, event.RoleSeller}} {
		key := rules.OrderKey(id, p.role)
		d, ok, err := s.lineDecision(ctx, p.user, key)
		if err != nil {
			return OrderDecisions{}, err
		}
		if !ok {
			d = Decision{Key: key, OrderID: id, Role: p.role, ReferralUserID: p.user, Status: DecisionNotPaid, Reason: "not_referred"}
		}
		out.Lines = append(out.Lines, d)
	}
	return out, nil
}

func (s *Service) lineDecision(ctx context.Context, user, key string) (Decision, bool, error) {
	keys := s.l.k.user(user)
	pipe := s.rdb.Pipeline()
	line := pipe.HGet(ctx, keys[1], key)
	cand := pipe.HGet(ctx, keys[2], key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Decision{}, false, fmt.Errorf("cannot read the ledger of %s: %w", user, err)
	}
	if raw, err := line.Result(); err == nil {
		d, err := decisionOf(key, user, raw, false)
		return d, err == nil, err
	}
	if raw, err := cand.Result(); err == nil {
		d, err := decisionOf(key, user, raw, true)
		return d, err == nil, err
	}
	return Decision{}, false, nil
}

// ReferralView is a referral's record and every commission line decided for it.
type ReferralView struct {
	UserID       string     `json:"user_id"`
	Registered   bool       `json:"registered"`
	PartnerID    string     `json:"partner_id"`
	NotReferred  string     `json:"not_referred_because,omitempty"`
	State        string     `json:"state,omitempty"`
	RegisteredAt *time.Time `json:"registered_at,omitempty"`
	ActivatedAt  *time.Time `json:"activated_at,omitempty"`
	Cause        string     `json:"cause,omitempty"`
	Lines        []Decision `json:"lines"`
}

// Referral returns user's referral record and line decisions, oldest first.
func (s *Service) Referral(ctx context.Context, user string) (ReferralView, error) {
	keys := s.l.k.user(user)
	pipe := s.rdb.Pipeline()
	rec := pipe.HGetAll(ctx, keys[0])
	lines := pipe.HGetAll(ctx, keys[1])
	cand := pipe.HGetAll(ctx, keys[2])
	if _, err := pipe.Exec(ctx); err != nil {
		return ReferralView{}, fmt.Errorf("cannot read the ledger of %s: %w", user, err)
	}
	r := rec.Val()
	if len(r) == 0 && len(lines.Val()) == 0 && len(cand.Val()) == 0 {
		return ReferralView{}, ErrNoRecord
	}
	v := ReferralView{UserID: user, Registered: r["reg"] == "1", PartnerID: r["p"], NotReferred: r["why"],
		State: r["st"], Cause: r["ac"], Lines: []Decision{}}
	if r["r"] != "" {
		t := msTime(r["r"])
		v.RegisteredAt = &t
	}
	if r["a"] != "" {
		t := msTime(r["a"])
		v.ActivatedAt = &t
	}
	for parked, m := range map[bool]map[string]string{false: lines.Val(), true: cand.Val()} {
		for key, raw := range m {
			d, err := decisionOf(key, user, raw, parked)
			if err != nil {
				return ReferralView{}, err
			}
			v.Lines = append(v.Lines, d)
		}
	}
	sort.Slice(v.Lines, func(i, j int) bool {
		if !v.Lines[i].At.Equal(v.Lines[j].At) {
			return v.Lines[i].At.Before(v.Lines[j].At)
		}
		return v.Lines[i].Key < v.Lines[j].Key
	})
	return v, nil
}

// RegisterAdmin adds the ledger's read-only operator routes to the admin listener:
// GET /admin/v1/orders/{id}/decisions and GET /admin/v1/referrals/{id}.
func (s *Service) RegisterAdmin(srv *admin.Server) {
	route := func(pattern, what string, read func(ctx context.Context, id string) (any, error)) {
		srv.Handle(pattern, func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if !ValidEntityID(id) {
				admin.Error(w, http.StatusBadRequest, what+" id must be 1-64 of [0-9A-Za-z_.:@-]")
				return
			}
			v, err := read(r.Context(), id)
			switch {
			case errors.Is(err, ErrNoRecord):
				admin.Error(w, http.StatusNotFound, err.Error())
			case err != nil:
				s.log.Error("ledger admin read failed", "err", err)
				admin.Error(w, http.StatusServiceUnavailable, "cannot read the ledger")
			default:
				admin.WriteJSON(w, http.StatusOK, v)
			}
		})
	}
	route("GET /admin/v1/orders/{id}/decisions", "order", func(ctx context.Context, id string) (any, error) {
		return s.OrderDecisions(ctx, id)
	})
	route("GET /admin/v1/referrals/{id}", "user", func(ctx context.Context, id string) (any, error) {
		return s.Referral(ctx, id)
	})
}

// validEntityID matches the event contract's ids (user, order, kwork).
func ValidEntityID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("_.:@-", c) >= 0) {
			return false
		}
	}
	return true
}
