package event

import (
	"crypto/sha256"
	"encoding/json"
	"time"
)

// Event types the marketplace core sends (docs/commissions.md "Event contract", In).
const (
	TypePartnerUpserted = "partner.upserted"
	TypeUserRegistered  = "user.registered"
	TypeKworkUpserted   = "kwork.upserted"
	TypeKworkModerated  = "kwork.moderated"
	TypeKworkRemoved    = "kwork.removed"
	TypeOrderCompleted  = "order.completed"
	TypeOrderRefunded   = "order.refunded"
)

// Event types the ledger produces (outputs).
const (
	TypeAttributed         = "attribution.attributed"
	TypeActivated          = "attribution.activated"
	TypeDetached           = "attribution.detached"
	TypeExpired            = "attribution.expired"
	TypeCommissionAccrued  = "commission.accrued"
	TypeCommissionReversed = "commission.reversed"
)

// LedgerInputTypes maps each input topic to the event types it may carry; anything
// else on the topic is dead-lettered.
var LedgerInputTypes = map[string][]string{
	TopicPartners: {TypePartnerUpserted},
	TopicUsers:    {TypeUserRegistered},
	TopicKworks:   {TypeKworkUpserted, TypeKworkModerated, TypeKworkRemoved},
	TopicOrders:   {TypeOrderCompleted, TypeOrderRefunded},
}

// LedgerOutputTypes lists what the ledger produces, by topic.
var LedgerOutputTypes = map[string][]string{
	TopicAttributions: {TypeAttributed, TypeActivated, TypeDetached, TypeExpired},
	TopicCommissions:  {TypeCommissionAccrued, TypeCommissionReversed},
}

// PartnerUpserted is the payload of partner.upserted: a partner registered, blocked or
// unblocked.
type PartnerUpserted struct {
	PartnerID      string `json:"partner_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	EmailConfirmed bool   `json:"email_confirmed"`
}

// UserRegistered is the payload of user.registered. Attribution is the raw rfe_ref
// cookie value the core read at signup, or "".
type UserRegistered struct {
	UserID      string `json:"user_id"`
	Attribution string `json:"attribution"`
	VisitorID   string `json:"visitor_id"`
}

// KworkUpserted is the payload of kwork.upserted (the catalog fields the ledger does not
// use are kept for the schema's sake).
type KworkUpserted struct {
	KworkID  string  `json:"kwork_id"`
	SellerID string  `json:"seller_id"`
	Title    string  `json:"title"`
	Category string  `json:"category"`
	Price    int64   `json:"price"`
	Currency string  `json:"currency"`
	URL      string  `json:"url"`
	ImageURL string  `json:"image_url"`
	Rating   float64 `json:"rating"`
	Status   string  `json:"status"`
}

// KworkModerated is the payload of kwork.moderated.
type KworkModerated struct {
	KworkID  string `json:"kwork_id"`
	SellerID string `json:"seller_id"`
	Approved bool   `json:"approved"`
}

// KworkRemoved is the payload of kwork.removed.
type KworkRemoved struct {
	KworkID  string `json:"kwork_id"`
	SellerID string `json:"seller_id"`
}

// OrderCompleted is the payload of order.completed: money was transferred to the seller
// at the envelope's occurred_at. Only AmountMain earns commission.
type OrderCompleted struct {
	OrderID     string     `json:"order_id"`
	BuyerID     string     `json:"buyer_id"`
	SellerID    string     `json:"seller_id"`
	AmountMain  int64      `json:"amount_main"`
	AmountBonus int64      `json:"amount_bonus"`
	Currency    string     `json:"currency"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// PaidAt is when the buyer paid, if the core says; activation uses it (program
	// rule 3), commission timing stays on occurred_at.
	PaidAt *time.Time `json:"paid_at,omitempty"`
}

// OrderRefunded is the payload of order.refunded (refund or chargeback).
type OrderRefunded struct {
	OrderID string `json:"order_id"`
	// AmountMain is the part of the main-balance payment refunded, in minor units; nil
	// means all of it (program rule 7).
	AmountMain *int64 `json:"amount_main,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Referral states carried by attribution events.
const (
	StatePending  = "pending"
	StateActive   = "active"
	StateDetached = "detached"
	StateExpired  = "expired"
)

// AttributionPayload is the payload of every attribution.* event. Besides the fields
// the event contract names per type, each carries the referral's whole state, so that the latest
// event per user — all a compacted topic keeps — is enough to rebuild the ledger.
type AttributionPayload struct {
	UserID             string     `json:"user_id"`
	PartnerID          string     `json:"partner_id"`
	ClickID            string     `json:"click_id"`
	State              string     `json:"state"`
	RegisteredAt       time.Time  `json:"registered_at"`
	ActivationDeadline time.Time  `json:"activation_deadline"`
	ExpiresAt          time.Time  `json:"expires_at"`
	ActivatedAt        *time.Time `json:"activated_at,omitempty"`
	Cause              string     `json:"cause,omitempty"`
}

// Commission roles.
const (
	RoleBuyer     = "buyer"
	RoleSeller    = "seller"
	RoleMilestone = "milestone"
)

// CommissionPayload is the payload of commission.accrued and commission.reversed. A
// reversal repeats the accrual's amounts exactly; Key is the accrual's key plus
// ":reversal" and Reverses names the accrual.
type CommissionPayload struct {
	Key            string `json:"key"`
	PartnerID      string `json:"partner_id"`
	ReferralUserID string `json:"referral_user_id"`
	OrderID        string `json:"order_id"`
	Role           string `json:"role"`
	BaseAmount     int64  `json:"base_amount"`
	RateBP         uint32 `json:"rate_bp"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Program        string `json:"program"`
	Reverses       string `json:"reverses,omitempty"`
}

// LedgerEventID returns the envelope id of an output event: a UUID (version 8, RFC 9562)
// derived from the event's type and dedupe key, so a re-emitted event carries the same
// id and consumers can drop it.
func LedgerEventID(typ, dedupe string) string {
	h := sha256.New()
	h.Write([]byte("refedge\x00"))
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write([]byte(dedupe))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x80
	u[8] = (u[8] & 0x3f) | 0x80
	var id [36]byte
	encodeUUID(id[:], u)
	return string(id[:])
}

// encodeLedgerEvent returns the JSON envelope of an output event.
func EncodeLedgerEvent(id, typ string, at time.Time, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{ID: id, Type: typ, Version: 1, OccurredAt: at.UTC(), Payload: p})
}
