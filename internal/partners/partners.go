// Package partners is the registry of referral partners in Redis: who exists and whether
// they are in good standing. The marketplace core feeds it (partner.upserted) and so can
// the admin API; the tracker reads it on every click, the ledger before attributing.
//
// Each partner is one hash at Key(id). The id is wrapped in a Redis Cluster hash tag so
// every per-partner key (duplicate windows, counters) lives in the partner's slot and one
// Lua script can touch them together.
package partners

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/refcookie"
)

// Status of a partner.
type Status string

// Partner statuses (program rule 1, docs/commissions.md).
const (
	Active  Status = "active"
	Blocked Status = "blocked"
)

// Partner is a registry entry.
type Partner struct {
	ID             string    `json:"partner_id"`
	UserID         string    `json:"user_id,omitempty"`
	Status         Status    `json:"status"`
	EmailConfirmed bool      `json:"email_confirmed"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// ErrNotFound is returned for an unknown partner.
var ErrNotFound = errors.New("partner not found")

// Key is the Redis hash holding partner id.
func Key(id string) string { return "rfe:partner:{" + id + "}" }

// AppendKey appends Key(id) to dst without allocating a string.
func AppendKey(dst, id []byte) []byte {
	dst = append(dst, "rfe:partner:{"...)
	dst = append(dst, id...)
	return append(dst, '}')
}

// The hash fields the tracker reads on a click. A partner's standing derives from them:
// blocked if the status is blocked, else unconfirmed unless FieldEmailConfirmed holds
// "true" (program rule 1), else active.
const (
	FieldStatus         = "status"
	FieldEmailConfirmed = "email_confirmed"
)

// ConfirmedValue reports whether a stored FieldEmailConfirmed value means confirmed; a
// missing field (the empty string) does not.
func ConfirmedValue(v string) bool { return v == "true" }

// Validate checks a partner before it is stored.
func (p *Partner) Validate() error {
	var errs []error
	if !refcookie.ValidPartnerID([]byte(p.ID)) {
		errs = append(errs, errors.New("partner_id must match [0-9A-Za-z_-]{1,64}"))
	}
	if p.Status != Active && p.Status != Blocked {
		errs = append(errs, errors.New("status must be active or blocked"))
	}
	if len(p.UserID) > 64 {
		errs = append(errs, errors.New("user_id is longer than 64 bytes"))
	}
	return errors.Join(errs...)
}

// Registry reads and writes partners.
type Registry struct {
	Redis redis.UniversalClient
}

// Upsert stores p unless the stored entry is newer (events may arrive out of order).
func (r *Registry) Upsert(ctx context.Context, p Partner) error {
	_, err := r.upsert(ctx, p, strconv.FormatBool(p.EmailConfirmed))
	return err
}

// upsert stores p with email_confirmed set to email ("true" or "false"), or, when email
// is empty, to the stored value — "true" for a partner not stored yet, "false" for an
// entry without the field. It returns the email_confirmed value now stored (the stored
// entry's when it is newer than p).
func (r *Registry) upsert(ctx context.Context, p Partner, email string) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	v, err := upsertScript.Run(ctx, r.Redis, []string{Key(p.ID)},
		string(p.Status), p.UserID, email, p.UpdatedAt.UnixMilli()).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("cannot store partner %s: %w", p.ID, err)
	}
	return ConfirmedValue(v), nil
}

// upsertScript: KEYS[1] the partner's hash; ARGV status, user_id, email_confirmed
// ("" keeps the stored value), updated_ms. Returns the email_confirmed value stored.
var upsertScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'updated_ms')
if cur and tonumber(cur) > tonumber(ARGV[4]) then
  return redis.call('HGET', KEYS[1], 'email_confirmed') or ''
end
local email = ARGV[3]
if email == '' then
  email = redis.call('HGET', KEYS[1], 'email_confirmed')
  if not email then
    if redis.call('EXISTS', KEYS[1]) == 1 then email = 'false' else email = 'true' end
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'user_id', ARGV[2], 'email_confirmed', email, 'updated_ms', ARGV[4])
return email`)

// Get returns partner id or ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (Partner, error) {
	m, err := r.Redis.HGetAll(ctx, Key(id)).Result()
	if err != nil {
		return Partner{}, fmt.Errorf("cannot read partner %s: %w", id, err)
	}
	if len(m) == 0 {
		return Partner{}, ErrNotFound
	}
	ms, _ := strconv.ParseInt(m["updated_ms"], 10, 64)
	return Partner{
		ID: id, UserID: m["user_id"], Status: Status(m["status"]),
		EmailConfirmed: ConfirmedValue(m[FieldEmailConfirmed]), UpdatedAt: time.UnixMilli(ms).UTC(),
	}, nil
}

// VisitorsKey is the set of visitor keys ("v:<rfe_vid>") the partner used on their
// own dashboard; clicks from them are self-referrals. It shares the partner's slot.
func VisitorsKey(id string) string { return Key(id) + visitorsSuffix }

// AppendVisitorsKey appends VisitorsKey(id) to dst without allocating a string.
func AppendVisitorsKey(dst, id []byte) []byte { return append(AppendKey(dst, id), visitorsSuffix...) }

const visitorsSuffix = ":vids"

// AddVisitor records that visitor id rfe_vid belongs to partner id, for a year.
func (r *Registry) AddVisitor(ctx context.Context, id, rfeVid string) error {
	k := VisitorsKey(id)
	pipe := r.Redis.TxPipeline()
	pipe.SAdd(ctx, k, "v:"+rfeVid)
	pipe.Expire(ctx, k, 365*24*time.Hour)
	_, err := pipe.Exec(ctx)
	return err
}
