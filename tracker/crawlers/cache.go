package crawlers

import (
	"hash/maphash"
	"sync"
)

// cache remembers recent verdicts. It is a fixed-size, sharded, 4-way set-associative
// table keyed by two independent seeded 64-bit hashes of the User-Agent, so neither a
// hit nor a miss allocates and its memory is fixed (24 bytes a slot). Storing hashes
// instead of the string means two different User-Agents collide only when both
// 64-bit hashes do: with per-process random seeds that is about 2^-128 per pair,
// far below any other error of the matcher, and not something a client can aim at.
// A full set evicts one of its four slots, chosen by the hash.
type cache struct {
	seed1, seed2 maphash.Seed
	shards       []cacheShard
	shardShift   uint   // 64 - log2(len(shards))
	setMask      uint64 // sets per shard - 1
}

type cacheShard struct {
	mu    sync.Mutex
	slots []cacheSlot
	_     [32]byte // pad to 64 bytes: shards' mutexes on separate cache lines
}

type cacheSlot struct {
	h1, h2 uint64
	rule   int32 // index into Matcher.rules, or noRule; valid only when h1|h2 != 0
}

const (
	cacheWays   = 4
	cacheShards = 64
)

// newCache returns a cache of at least size entries (rounded up to a power of two), or
// nil when size is not positive.
func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	perShard := 1
	for perShard*cacheShards < size {
		perShard <<= 1
	}
	perShard = max(perShard, cacheWays)
	c := &cache{
		seed1:      maphash.MakeSeed(),
		seed2:      maphash.MakeSeed(),
		shards:     make([]cacheShard, cacheShards),
		shardShift: 64 - 6, // log2(cacheShards)
		setMask:    uint64(perShard/cacheWays - 1),
	}
	for i := range c.shards {
		c.shards[i].slots = make([]cacheSlot, perShard)
	}
	return c
}

func (c *cache) hash(ua []byte) (h1, h2 uint64) {
	h1 = maphash.Bytes(c.seed1, ua)
	h2 = maphash.Bytes(c.seed2, ua)
	if h1|h2 == 0 { // 0,0 marks an empty slot
		h2 = 1
	}
	return h1, h2
}

func (c *cache) locate(h1 uint64) (*cacheShard, int) {
	return &c.shards[h1>>c.shardShift], int(h1&c.setMask) * cacheWays
}

func (c *cache) get(h1, h2 uint64) (rule int32, ok bool) {
	sh, set := c.locate(h1)
	sh.mu.Lock()
	for i := set; i < set+cacheWays; i++ {
		if s := sh.slots[i]; s.h1 == h1 && s.h2 == h2 {
			sh.mu.Unlock()
			return s.rule, true
		}
	}
	sh.mu.Unlock()
	return 0, false
}

func (c *cache) put(h1, h2 uint64, rule int32) {
	sh, set := c.locate(h1)
	victim := set + int(h2%cacheWays)
	sh.mu.Lock()
	for i := set; i < set+cacheWays; i++ {
		if s := sh.slots[i]; s.h1|s.h2 == 0 || (s.h1 == h1 && s.h2 == h2) {
			victim = i
			break
		}
	}
	sh.slots[victim] = cacheSlot{h1: h1, h2: h2, rule: rule}
	sh.mu.Unlock()
}
