package widget

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Widget is a stored widget config, owned by one partner.
type Widget struct {
	ID        string `json:"id"`
	PartnerID string `json:"partner_id"`
	Spec
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps widget configs in Redis:
//
//	rfe:wg:{id}        string: the widget as JSON
//	rfe:wgp:{partner}  set: the partner's widget ids
type Store struct {
	r     redis.UniversalClient
	sizes SizeLimits
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// ErrWidgetNotFound is returned for an unknown widget, or one of another partner.
var ErrWidgetNotFound = errors.New("widget not found")

// ErrTooManyWidgets is returned when a partner is at MaxWidgetsPerPartner.
var ErrTooManyWidgets = errors.New("too many widgets")

func widgetKey(id string) string        { return "rfe:wg:{" + id + "}" }
func partnerWidgetsKey(p string) string { return "rfe:wgp:{" + p + "}" }
func newStore(r redis.UniversalClient, sz SizeLimits) *Store {
	return &Store{r: r, sizes: sz, Now: time.Now}
}

// widgetIDLen is the length of a widget id: 12 of [0-9a-z], about 62 bits.
const widgetIDLen = 12

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

func newWidgetID() string {
	var out [widgetIDLen]byte
	var b [32]byte
	n := 0
	for n < widgetIDLen {
		_, _ = rand.Read(b[:])
		for _, c := range b {
			// 252 = 7*36: reject the top values so every character is equally likely.
			if c < 252 && n < widgetIDLen {
				out[n] = idAlphabet[c%36]
				n++
			}
		}
	}
	return string(out[:])
}

// validWidgetID accepts exactly what newWidgetID makes.
func validWidgetID(s string) bool {
	if len(s) != widgetIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Create stores a new widget for partner (spec already normalised).
func (s *Store) Create(ctx context.Context, partner string, spec Spec, max int) (Widget, error) {
	n, err := s.r.SCard(ctx, partnerWidgetsKey(partner)).Result()
	if err != nil {
		return Widget{}, fmt.Errorf("cannot count widgets of %s: %w", partner, err)
	}
	if int(n) >= max {
		return Widget{}, ErrTooManyWidgets
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	w := Widget{PartnerID: partner, Spec: spec, CreatedAt: now, UpdatedAt: now}
	for attempt := 0; ; attempt++ {
		w.ID = newWidgetID()
		b, _ := json.Marshal(w)
		ok, err := s.r.SetNX(ctx, widgetKey(w.ID), b, 0).Result()
		if err != nil {
			return Widget{}, fmt.Errorf("cannot store widget: %w", err)
		}
		if ok {
			break
		}
		if attempt == 3 {
			return Widget{}, errors.New("cannot allocate a widget id")
		}
	}
	if err := s.r.SAdd(ctx, partnerWidgetsKey(partner), w.ID).Err(); err != nil {
		return Widget{}, fmt.Errorf("cannot index widget %s: %w", w.ID, err)
	}
	return w, nil
}

// Get returns widget id whoever owns it.
func (s *Store) Get(ctx context.Context, id string) (Widget, error) {
	if !validWidgetID(id) {
		return Widget{}, ErrWidgetNotFound
	}
	b, err := s.r.Get(ctx, widgetKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Widget{}, ErrWidgetNotFound
	}
	if err != nil {
		return Widget{}, fmt.Errorf("cannot read widget %s: %w", id, err)
	}
	return s.decode(b)
}

func (s *Store) decode(b []byte) (Widget, error) {
	var w Widget
	if err := json.Unmarshal(b, &w); err != nil {
		return Widget{}, fmt.Errorf("cannot decode widget: %w", err)
	}
	// Stored specs were validated; limits may have narrowed since, so only the size
	// is recomputed, leniently.
	if wd, ht, err := parseSize(w.Size, SizeLimits{1, 1 << 14, 1, 1 << 14}); err == nil {
		w.w, w.h = wd, ht
	} else {
		w.w, w.h = 300, 250
	}
	return w, nil
}

// GetFor returns widget id if partner owns it, else ErrWidgetNotFound.
func (s *Store) GetFor(ctx context.Context, partner, id string) (Widget, error) {
	w, err := s.Get(ctx, id)
	if err != nil {
		return w, err
	}
	if w.PartnerID != partner {
		return Widget{}, ErrWidgetNotFound
	}
	return w, nil
}

// Update replaces the spec of partner's widget id.
func (s *Store) Update(ctx context.Context, partner, id string, spec Spec) (Widget, error) {
	w, err := s.GetFor(ctx, partner, id)
	if err != nil {
		return w, err
	}
	w.Spec = spec
	w.UpdatedAt = s.Now().UTC().Truncate(time.Millisecond)
	b, _ := json.Marshal(w)
	ok, err := s.r.SetXX(ctx, widgetKey(id), b, 0).Result()
	if err != nil {
		return Widget{}, fmt.Errorf("cannot store widget %s: %w", id, err)
	}
	if !ok {
		return Widget{}, ErrWidgetNotFound // deleted meanwhile
	}
	return w, nil
}

// Delete removes partner's widget id.
func (s *Store) Delete(ctx context.Context, partner, id string) error {
	if _, err := s.GetFor(ctx, partner, id); err != nil {
		return err
	}
	if err := s.r.Del(ctx, widgetKey(id)).Err(); err != nil {
		return fmt.Errorf("cannot delete widget %s: %w", id, err)
	}
	if err := s.r.SRem(ctx, partnerWidgetsKey(partner), id).Err(); err != nil {
		return fmt.Errorf("cannot unindex widget %s: %w", id, err)
	}
	return nil
}

// List returns partner's widgets, oldest first.
func (s *Store) List(ctx context.Context, partner string) ([]Widget, error) {
	ids, err := s.r.SMembers(ctx, partnerWidgetsKey(partner)).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list widgets of %s: %w", partner, err)
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.r.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, widgetKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cannot read widgets of %s: %w", partner, err)
	}
	out := make([]Widget, 0, len(ids))
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // deleted between SMEMBERS and GET
		}
		w, err := s.decode(b)
		if err == nil && w.PartnerID == partner {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
