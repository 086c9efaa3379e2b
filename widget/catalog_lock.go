package widget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reindexing one kwork is several steps on keys in different slots (the kwork's own
// and its categories'), so two reindexes of the same kwork must not interleave: one
// that read the record before a write can re-add the old card to a category after the
// other took it out and unlisted it, and the card then stays there, listed nowhere.
// A short per-kwork lock in the kwork's slot serialises them; writes themselves are
// not held up (the record is one script), only the index maintenance after them.

// reindexWait bounds how long a reindex waits for the kwork's lock.
const reindexWait = 2 * time.Second

// reindexLockTTL frees the lock of a process that died holding it; a round takes a few
// round trips, far less.
const reindexLockTTL = 5 * time.Second

func reindexLockKey(id string) string { return "rfe:kwlock:{" + id + "}" }

// unlockScript deletes the lock only if it is still ours (it may have expired and been
// taken by another reindex).
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

var errLockBusy = errors.New("another reindex held it too long")

// lockKwork takes kwork id's reindex lock, waiting with a jittered, growing pause
// while another reindex holds it, and returns its release.
func (c *Catalog) lockKwork(ctx context.Context, id string) (func(), error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	token, key := hex.EncodeToString(b[:]), reindexLockKey(id)
	deadline := time.Now().Add(reindexWait)
	pause := time.Millisecond
	for {
		ok, err := c.r.SetNX(ctx, key, token, reindexLockTTL).Result()
		if err != nil {
			return nil, fmt.Errorf("cannot lock kwork %s for reindexing: %w", id, err)
		}
		if ok {
			return func() {
				// A fresh context: the lock must go even when ctx was cancelled.
				uctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = unlockScript.Run(uctx, c.r, []string{key}, token).Err()
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cannot lock kwork %s for reindexing: %w", id, errLockBusy)
		}
		t := time.NewTimer(pause/2 + mrand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("cannot lock kwork %s for reindexing: %w", id, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}
