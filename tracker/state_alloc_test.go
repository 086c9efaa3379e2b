//go:build !race

package tracker

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/testenv"
)

// TestRedisStateAllocations: once its pools are warm, a lookup with windows on a single
// Redis allocates no command, argument or key: against the former path (legacyState),
// which built 8 commands with their argument slices and key strings, at least 40
// allocations fewer. What is left is go-redis's own per batch and per nil reply (its
// Pipeline, the pool's connection check, an error check on each GET of a previous window
// that does not exist; docs/performance.md, "Redis client path").
func TestRedisStateAllocations(t *testing.T) {
	rdb := testenv.Redis(t)
	seedPartners(t, rdb)
	ctx := t.Context()
	allocs := func(st StateStore, name string) float64 {
		q := StateQuery{Partner: []byte("act"), IP: netip.MustParseAddr("198.51.100.7"), Windows: true}
		var out State
		i := 0
		lookup := func() {
			i++
			q.Visitor = fmt.Appendf(q.Visitor[:0], "v:%s-%d", name, i)
			q.Now = time.Now()
			out = State{}
			if err := st.Lookup(ctx, &q, &out); err != nil {
				t.Fatal(err)
			}
			if out.Partner != PartnerActive || out.Duplicate {
				t.Fatalf("%s lookup %d: %+v", name, i, out)
			}
		}
		lookup()
		return testing.AllocsPerRun(200, lookup)
	}
	legacy := allocs(&legacyState{Redis: rdb}, "legacy")
	now := allocs(&RedisState{Redis: rdb}, "reuse")
	t.Logf("allocations per lookup: legacy %.1f, now %.1f", legacy, now)
	if now > legacy-40 {
		t.Fatalf("%.1f allocations per lookup, the former path %.1f: want at least 40 fewer", now, legacy)
	}
}
