package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/refedge/refedge/attribution/event"
)

// Kwork event types on marketplace.kworks (docs/commissions.md "Event contract").
const (
	TypeKworkUpserted  = "kwork.upserted"
	TypeKworkModerated = "kwork.moderated"
)

// ErrInvalidEvent marks an event that can never be applied (malformed, or failing
// validation); a consumer skips it. Any other Apply error is transient: retry.
var ErrInvalidEvent = errors.New("invalid kwork event")

type upsertedPayload struct {
	KworkID  flexID  `json:"kwork_id"`
	SellerID flexID  `json:"seller_id"`
	Title    string  `json:"title"`
	Category flexID  `json:"category"`
	Price    int64   `json:"price"`
	Currency string  `json:"currency"`
	URL      string  `json:"url"`
	ImageURL string  `json:"image_url"`
	Rating   float64 `json:"rating"`
	Status   Status  `json:"status"`
}

type moderatedPayload struct {
	KworkID  flexID `json:"kwork_id"`
	SellerID flexID `json:"seller_id"`
	Approved *bool  `json:"approved"`
}

// Apply applies one marketplace.kworks event: kwork.upserted stores the kwork (an
// inactive status drops it from the widget index at once), kwork.moderated approves or
// rejects it. Event time (occurred_at) orders writes, so replays and out-of-order
// deliveries converge. Other event types are ignored. Errors wrapping ErrInvalidEvent
// are permanent; others are worth a retry.
func (c *Catalog) Apply(ctx context.Context, env event.Envelope) error {
	if err := env.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	switch env.Type {
	case TypeKworkUpserted:
		var p upsertedPayload
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrInvalidEvent, env.Type, env.ID, err)
		}
		k := Kwork{ID: string(p.KworkID), SellerID: string(p.SellerID), Title: p.Title, Category: string(p.Category),
			Price: p.Price, Currency: p.Currency, URL: p.URL, ImageURL: p.ImageURL, Rating: p.Rating,
			Status: p.Status, UpdatedMs: env.OccurredAt.UnixMilli()}
		if p.Status == "" {
			return fmt.Errorf("%w: %s %s: status is required", ErrInvalidEvent, env.Type, env.ID)
		}
		if err := k.Validate(c.origin); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrInvalidEvent, env.Type, env.ID, err)
		}
		_, err := c.Put(ctx, k)
		return err
	case TypeKworkModerated:
		var p moderatedPayload
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrInvalidEvent, env.Type, env.ID, err)
		}
		if p.Approved == nil || !validKworkID(string(p.KworkID)) {
			return fmt.Errorf("%w: %s %s: kwork_id and approved are required", ErrInvalidEvent, env.Type, env.ID)
		}
		_, err := c.Moderate(ctx, string(p.KworkID), *p.Approved, env.OccurredAt)
		return err
	}
	return nil
}
