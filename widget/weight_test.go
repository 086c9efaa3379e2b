package widget

import (
	"strconv"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/partners"
)

// maxWeight is the widget's weight budget (docs/widget.md, "Weight"): the loader plus the
// frame HTML, thumbnails aside.
const maxWeight = 20 << 10

func TestWidgetWeight(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "a-partner-with-a-rather-long-id-0123456789", partners.Active)
	long := strings.Repeat("Разработаю логотип & стиль <для> \"бизнеса\" ", 4) // > 100 runes, escapes a lot
	for i := 0; i < 12; i++ {
		id := strings.Repeat("k", 60) + strconv.Itoa(10+i)
		f.kwork(t, Kwork{ID: id, Title: long, Category: "design", Price: 123456789, Currency: "RUB", Rating: 4.9,
			URL: testMarket + "/kwork/" + id + "/razrabotayu-logotip-i-firmennyj-stil?utm_source=catalog&utm_medium=x"})
	}
	for _, size := range append([]string{"1200x1200"}, ProgramSizes...) {
		w := f.widget(t, "a-partner-with-a-rather-long-id-0123456789", Spec{Category: "design", Size: size, Cards: MaxCards, Language: "ru"})
		loader := do(f.svc.Handler(), "GET", "/w/"+w.ID+".js", nil, nil).Body()
		frame := do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, map[string]string{"Referer": "https://" + strings.Repeat("b", 60) + ".example/"}).Body()
		if n := strings.Count(string(frame), `<li class="c"`); n != MaxCards {
			t.Fatalf("%s: %d cards", size, n)
		}
		total := len(loader) + len(frame)
		t.Logf("%-9s loader %5d B + frame %5d B = %5d B (12 worst-case cards)", size, len(loader), len(frame), total)
		if total > maxWeight {
			t.Errorf("%s: loader + frame = %d bytes, over the %d-byte budget", size, total, maxWeight)
		}
	}
}
