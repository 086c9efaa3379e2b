package widget

import (
	"sync"
	"time"
)

// resolved is everything a request needs to know about one widget id, computed once
// per CacheTTL: the config, whether its partner may show it, and the bytes derived
// from it (loader, CSS, link suffix).
type resolved struct {
	found         bool
	partnerActive bool
	w             Widget
	lay           layout
	css           string // full frame stylesheet
	linkSuffix    string // "ref={partner}&src=widget&cr={id}"
	loader        []byte
	etag          string
	sk            skeleton  // nil: render with the template
	frags         fragments // rendered cards
	expires       int64     // unix nanoseconds
}

// widgetCache keeps resolved widgets for a short TTL, including misses, so a burst of
// frames for one widget (or for a bogus id) costs one Redis read per TTL.
type widgetCache struct {
	mu  sync.RWMutex
	m   map[string]*resolved
	ttl time.Duration
	max int
}

func newWidgetCache(ttl time.Duration, max int) *widgetCache {
	return &widgetCache{m: make(map[string]*resolved), ttl: ttl, max: max}
}

func (c *widgetCache) get(id string, now time.Time) *resolved {
	c.mu.RLock()
	r := c.m[id]
	c.mu.RUnlock()
	if r == nil || now.UnixNano() >= r.expires {
		return nil
	}
	return r
}

func (c *widgetCache) put(id string, r *resolved, now time.Time) {
	r.expires = now.Add(c.ttl).UnixNano()
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Full: drop expired entries, and everything if that is not enough. Entries live
		// seconds, so a crude sweep is cheaper than an eviction order.
		n := now.UnixNano()
		for k, v := range c.m {
			if n >= v.expires {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[id] = r
	c.mu.Unlock()
}

func (c *widgetCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
