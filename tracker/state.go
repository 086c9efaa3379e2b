package tracker

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/partners"
)

// PartnerState is what the registry says about a click's partner.
type PartnerState uint8

// Partner states.
const (
	PartnerUnknown PartnerState = iota
	PartnerActive
	PartnerBlocked
)

// State is everything a click needs from shared storage, read in one round trip.
type State struct {
	Partner PartnerState
	// Degraded is set when the store did not answer; checks that need it are skipped.
	Degraded bool
}

// StateQuery names what to read for one click. Its slices alias the request.
type StateQuery struct {
	Partner []byte
}

// StateStore reads a click's state. Implementations must make at most one network
// round trip per call.
type StateStore interface {
	Lookup(ctx context.Context, q *StateQuery, out *State) error
}

// RedisState reads click state from Redis in one pipelined round trip.
type RedisState struct {
	R redis.UniversalClient
}

var keyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 96); return &b }}

// Lookup implements StateStore.
func (r *RedisState) Lookup(ctx context.Context, q *StateQuery, out *State) error {
	kb := keyBufPool.Get().(*[]byte)
	key := partners.AppendKey((*kb)[:0], q.Partner)
	status, err := r.R.HGet(ctx, string(key), partners.FieldStatus).Result()
	*kb = key
	keyBufPool.Put(kb)
	switch {
	case errors.Is(err, redis.Nil):
		out.Partner = PartnerUnknown
	case err != nil:
		return err
	case status == string(partners.Active):
		out.Partner = PartnerActive
	case status == string(partners.Blocked):
		out.Partner = PartnerBlocked
	default:
		out.Partner = PartnerUnknown
	}
	return nil
}

// MemoryState is an in-process StateStore for tests, benchmarks and examples.
type MemoryState struct {
	mu       sync.RWMutex
	partners map[string]PartnerState
}

// SetPartner records a partner's state.
func (m *MemoryState) SetPartner(id string, st PartnerState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.partners == nil {
		m.partners = map[string]PartnerState{}
	}
	m.partners[id] = st
}

// Lookup implements StateStore.
func (m *MemoryState) Lookup(_ context.Context, q *StateQuery, out *State) error {
	m.mu.RLock()
	out.Partner = m.partners[string(q.Partner)]
	m.mu.RUnlock()
	return nil
}
