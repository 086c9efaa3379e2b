package widget

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThumbsShareRendersAndFailFast(t *testing.T) {
	th := newThumbs(nil, 1<<20, 1, 50*time.Millisecond)
	var calls atomic.Int32
	release := make(chan struct{})
	slow := func() ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("jpeg"), nil
	}
	var wg sync.WaitGroup
	results := make(chan []byte, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := th.render("k/v/104x76", slow)
			if err != nil {
				t.Error(err)
			}
			results <- b
		}()
	}
	waitFor(t, 5*time.Second, "the shared render to start", func() bool { return calls.Load() == 1 })
	// The only worker is busy: another thumbnail waits ThumbWait, then gives up.
	start := time.Now()
	if _, err := th.render("other/v/64x48", slow); !errors.Is(err, errThumbBusy) {
		t.Fatalf("render while busy = %v, want errThumbBusy", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %v, want about ThumbWait", d)
	}
	close(release)
	wg.Wait()
	close(results)
	for b := range results {
		if string(b) != "jpeg" {
			t.Fatalf("a waiter got %q", b)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d renders for one thumbnail, want 1", n)
	}
	if string(th.get("k/v/104x76")) != "jpeg" {
		t.Fatal("the render was not cached")
	}
}

func TestThumbCacheEvictsLeastRecentlyUsed(t *testing.T) {
	th := newThumbs(nil, 3*(100+64+3), 1, time.Second)
	blob := make([]byte, 100)
	th.put("a/1", blob)
	th.put("b/1", blob)
	th.put("c/1", blob)
	th.get("a/1") // a is now the most recent
	th.put("d/1", blob)
	if th.get("b/1") != nil || th.get("a/1") == nil || th.get("c/1") == nil || th.get("d/1") == nil {
		t.Fatal("the least recently used entry was not the one evicted")
	}
	th.put("huge", make([]byte, 1000))
	if th.get("huge") != nil {
		t.Fatal("an entry larger than the whole cache was kept")
	}
}
