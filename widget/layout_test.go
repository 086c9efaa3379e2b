package widget

import (
	"fmt"
	"testing"
)

func TestLayout(t *testing.T) {
	f := func(w, h, cards int, want string) {
		t.Helper()
		l := computeLayout(w, h, cards)
		got := fmt.Sprintf("%dx%d card %dx%d wide=%v tiny=%v thumb %dx%d", l.cols, l.rows, l.cardW, l.cardH, l.wide, l.tiny, l.thumbW, l.thumbH)
		if got != want {
			t.Fatalf("layout(%dx%d, %d)\n got %s\nwant %s", w, h, cards, got, want)
		}
	}
	f(728, 90, 6, "3x1 card 242x90 wide=true tiny=false thumb 104x76")
	f(468, 60, 6, "2x1 card 234x60 wide=true tiny=false thumb 64x48")
	f(88, 31, 6, "1x1 card 88x31 wide=true tiny=true thumb 0x0")
	f(120, 600, 6, "1x4 card 120x150 wide=false tiny=false thumb 108x80")
	f(160, 600, 6, "1x3 card 160x200 wide=false tiny=false thumb 148x108")
	f(300, 250, 6, "1x1 card 300x250 wide=false tiny=false thumb 288x184")
	f(100, 100, 6, "1x1 card 100x100 wide=false tiny=false thumb 88x32")
	f(1200, 1200, 12, "3x4 card 400x300 wide=false tiny=false thumb 388x232")
	f(728, 90, 2, "2x1 card 364x90 wide=true tiny=false thumb 104x76")
	f(728, 90, 1, "1x1 card 728x90 wide=true tiny=false thumb 104x76")
}

func TestLayoutFitsEverySize(t *testing.T) {
	for w := 88; w <= 1200; w += 37 {
		for h := 31; h <= 1200; h += 29 {
			for _, cards := range []int{1, 5, 12} {
				l := computeLayout(w, h, cards)
				if l.cols < 1 || l.rows < 1 || l.cols*l.rows > max(cards, 1) {
					t.Fatalf("%dx%d/%d: grid %dx%d", w, h, cards, l.cols, l.rows)
				}
				if l.thumbW > l.cardW || l.thumbH > l.cardH || (l.thumbW > 0) != (l.thumbH > 0) {
					t.Fatalf("%dx%d/%d: thumb %dx%d does not fit card %dx%d", w, h, cards, l.thumbW, l.thumbH, l.cardW, l.cardH)
				}
				if l.thumbW > 0 && (!thumbSide(l.thumbW) || !thumbSide(l.thumbH)) {
					t.Fatalf("%dx%d/%d: thumb %dx%d is not a servable size", w, h, cards, l.thumbW, l.thumbH)
				}
			}
		}
	}
}
