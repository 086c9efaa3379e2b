package widget

import (
	"fmt"
	"testing"
)

func TestParsePath(t *testing.T) {
	f := func(path string, want target) {
		t.Helper()
		if got := parsePath([]byte(path)); got != want {
			t.Fatalf("parsePath(%q) = %+v; want %+v", path, got, want)
		}
	}
	id := "abcdefghij01"
	f("/w/builder", target{route: routeBuilder})
	f("/w/preview", target{route: routePreview})
	f("/w/"+id, target{route: routeFrame, id: id})
	f("/w/"+id+".js", target{route: routeLoader, id: id})
	f("/w/"+id+"/view", target{route: routeView, id: id})
	f("/w/t/k-1_A/104x76.jpg", target{route: routeThumb, id: "k-1_A", w: 104, h: 76})
	f("/w/t/42/960x16.jpg", target{route: routeThumb, id: "42", w: 960, h: 16})

	none := target{}
	f("/w/", none)
	f("/w", none)
	f("/x/"+id, none)
	f("/w/builder/", none)
	f("/w/ABCDEFGHIJ01", none) // ids are lower case
	f("/w/abcdefghij0", none)  // too short
	f("/w/abcdefghij012", none)
	f("/w/"+id+"/", none)
	f("/w/"+id+"/view/", none)
	f("/w/"+id+".js.map", none)
	f("/w/../"+id, none)
	f("/w/t/k/104x76.png", none)
	f("/w/t/k/105x76.jpg", none) // not a multiple of 4
	f("/w/t/k/12x76.jpg", none)  // below thumbMin
	f("/w/t/k/964x76.jpg", none) // above thumbMax
	f("/w/t/k/0104x76.jpg", none)
	f("/w/t/k/104x76x4.jpg", none)
	f("/w/t/k//104x76.jpg", none)
	f("/w/t/k%2F/104x76.jpg", none)
	f("/w/t/"+string(make([]byte, 65))+"/104x76.jpg", none)
	f(fmt.Sprintf("/w/t/%s/104x76.jpg", "a.b"), none)
}

func TestNewWidgetID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newWidgetID()
		if !validWidgetID(id) {
			t.Fatalf("newWidgetID() = %q is not valid", id)
		}
		if seen[id] {
			t.Fatalf("newWidgetID() repeated %q", id)
		}
		seen[id] = true
		if got := parsePath([]byte("/w/" + id)); got.route != routeFrame || got.id != id {
			t.Fatalf("parsePath of a new id = %+v", got)
		}
	}
}
