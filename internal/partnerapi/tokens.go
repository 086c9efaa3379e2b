package partnerapi

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Issued API tokens are listed for operators by id, creation time and last use (never
// the value, which only the issuing answer shows). Per token, a hash
// rfe:token:meta:<id> {partner, created, expires, last_used}; per partner, the set
// rfe:tokens:{partner} of its ids. Both expire with the token.
//
// Revocation needs no cache to invalidate: every bearer request asks Redis whether its
// token is revoked (Authenticate), so a revocation holds on every edge from the next
// request on.

func tokenMetaKey(id string) string          { return "rfe:token:meta:" + id }
func partnerTokensKey(partner string) string { return "rfe:tokens:{" + partner + "}" }

// lastUseEvery is how often a token's last use is written: at most once a minute per
// token per process, so a busy integration does not write on every request.
const lastUseEvery = time.Minute

// TokenInfo describes an issued token without its value.
type TokenInfo struct {
	ID        string     `json:"id"`
	PartnerID string     `json:"partner_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used_at"`
	Revoked   bool       `json:"revoked"`
}

// RecordToken keeps tok's id, partner and times for ListTokens.
func (a *Auth) RecordToken(ctx context.Context, tok Token) error {
	now := a.Now().UTC()
	pipe := a.cfg.Redis.TxPipeline()
	pipe.HSet(ctx, tokenMetaKey(tok.ID), "partner", tok.PartnerID, "created", now.Unix(), "expires", tok.ExpiresAt.Unix())
	pipe.ExpireAt(ctx, tokenMetaKey(tok.ID), tok.ExpiresAt)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot record token %s: %w", tok.ID, err)
	}
	// A second round trip: the set lives in the partner's slot, the hash in the token's.
	pipe = a.cfg.Redis.Pipeline()
	pipe.SAdd(ctx, partnerTokensKey(tok.PartnerID), tok.ID)
	pipe.ExpireAt(ctx, partnerTokensKey(tok.PartnerID), now.Add(a.cfg.TokenTTL))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot record token %s: %w", tok.ID, err)
	}
	return nil
}

// TokenPartner returns the partner token id was issued to, "" when it is not known
// (issued before tokens were recorded, or expired).
func (a *Auth) TokenPartner(ctx context.Context, id string) string {
	p, _ := a.cfg.Redis.HGet(ctx, tokenMetaKey(id), "partner").Result()
	return p
}

// ListTokens returns partner's recorded tokens that have not expired, newest first.
func (a *Auth) ListTokens(ctx context.Context, partner string) ([]TokenInfo, error) {
	ids, err := a.cfg.Redis.SMembers(ctx, partnerTokensKey(partner)).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list tokens: %w", err)
	}
	pipe := a.cfg.Redis.Pipeline()
	metas := make([]*redis.MapStringStringCmd, len(ids))
	revoked := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		metas[i] = pipe.HGetAll(ctx, tokenMetaKey(id))
		revoked[i] = pipe.Exists(ctx, revokedKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("cannot list tokens: %w", err)
	}
	now := a.Now()
	out := []TokenInfo{}
	for i, id := range ids {
		m := metas[i].Val()
		if m["partner"] != partner {
			continue // expired: the set outlives some of its tokens' hashes
		}
		unix := func(k string) time.Time {
			n, _ := strconv.ParseInt(m[k], 10, 64)
			return time.Unix(n, 0).UTC()
		}
		ti := TokenInfo{ID: id, PartnerID: partner, CreatedAt: unix("created"), ExpiresAt: unix("expires"), Revoked: revoked[i].Val() > 0}
		if !now.Before(ti.ExpiresAt) {
			continue
		}
		if m["last_used"] != "" {
			t := unix("last_used")
			ti.LastUsed = &t
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// lastUse throttles the writes of tokens' last use.
type lastUse struct {
	mu      sync.Mutex
	written map[string]time.Time
}

// touch records that token id was used now, at most once per
// lastUseEvery; it runs after the request's answer is decided and never fails it.
func (a *Auth) touch(id string, now time.Time) {
	a.used.mu.Lock()
	if a.used.written == nil {
		a.used.written = map[string]time.Time{}
	}
	if last, ok := a.used.written[id]; ok && now.Sub(last) < lastUseEvery {
		a.used.mu.Unlock()
		return
	}
	if len(a.used.written) > 100_000 {
		clear(a.used.written)
	}
	a.used.written[id] = now
	a.used.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Only a recorded token's hash is updated (HSET on a missing key would leave a
	// hash without partner); the script keeps the check and the write together.
	_ = touchScript.Run(ctx, a.cfg.Redis, []string{tokenMetaKey(id)}, now.Unix()).Err()
}

var touchScript = redis.NewScript(`if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("HSET", KEYS[1], "last_used", ARGV[1]) end return 0`)
