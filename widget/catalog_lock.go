package widget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reindexing one kwork is several steps on keys in different slots (the kwork's own
// and its categories'), so two reindexes of the same kwork must not interleave: one
// that read the record before a write can re-add the old card to a category after the
// other took it out and unlisted it, and the card then stays there, listed nowhere.
// A short per-kwork lock in the kwork's slot serialises the rounds, and a dirty mark
// hands the work of a writer that found the lock taken to the holder (Catalog.reindex).

// reindexLockTTL frees the lock of a process that died holding it; a round takes a few
// round trips, far less.
const reindexLockTTL = 5 * time.Second

// reindexDirtyTTL bounds a mark nobody consumed (its writer's process died): the next
// write of the kwork reindexes it anyway.
const reindexDirtyTTL = time.Hour

func reindexLockKey(id string) string  { return "rfe:kwlock:{" + id + "}" }
func reindexDirtyKey(id string) string { return "rfe:kwdirty:{" + id + "}" }

// unlockScript deletes the lock only if it is still ours (it may have expired and been
// taken by another reindex).
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func (c *Catalog) markDirty(ctx context.Context, id string) error {
	return c.r.Set(ctx, reindexDirtyKey(id), "1", reindexDirtyTTL).Err()
}

func (c *Catalog) isDirty(ctx context.Context, id string) (bool, error) {
	n, err := c.r.Exists(ctx, reindexDirtyKey(id)).Result()
	if err != nil {
		return false, fmt.Errorf("cannot reindex kwork %s: %w", id, err)
	}
	return n == 1, nil
}

// tryLockKwork takes kwork id's reindex lock if it is free, without waiting, and
// returns its release.
func (c *Catalog) tryLockKwork(ctx context.Context, id string) (func(), bool, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	token, key := hex.EncodeToString(b[:]), reindexLockKey(id)
	ok, err := c.r.SetNX(ctx, key, token, reindexLockTTL).Result()
	if err != nil {
		return nil, false, fmt.Errorf("cannot lock kwork %s for reindexing: %w", id, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		// A fresh context: the lock must go even when ctx was cancelled.
		uctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = unlockScript.Run(uctx, c.r, []string{key}, token).Err()
	}, true, nil
}
