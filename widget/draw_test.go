package widget

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Draws from many goroutines share pipelines; every answer is its own key's.
func TestDrawerBatchesConcurrentDraws(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 8; i++ {
		f.kwork(t, Kwork{ID: "a" + strconv.Itoa(i), Title: "A", Category: "alpha"})
		f.kwork(t, Kwork{ID: "b" + strconv.Itoa(i), Title: "B", Category: "beta"})
	}
	d := newDrawer(f.rdb, 2, 16)
	defer d.close()
	var wg sync.WaitGroup
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				cat, prefix := "alpha", `{"i":"a`
				if (g+i)%2 == 1 {
					cat, prefix = "beta", `{"i":"b`
				}
				res, err := d.draw(catCardsKey(cat), 3)
				if err != nil || len(res) != 3 {
					t.Errorf("draw(%s) = %d, %v", cat, len(res), err)
					return
				}
				for _, r := range res {
					if !strings.HasPrefix(r, prefix) {
						t.Errorf("draw(%s) returned %s", cat, r)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	d.close()
	if _, err := d.draw(catCardsKey("alpha"), 1); !errors.Is(err, errDrawerClosed) {
		t.Fatalf("draw after close = %v", err)
	}
}
