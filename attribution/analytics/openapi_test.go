package analytics

import (
	"os"
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partnerapi"
)

// Every analytics route the router serves is described in deploy/openapi.yaml.
func TestOpenAPIDescribesAnalyticsRoutes(t *testing.T) {
	spec, err := os.ReadFile("../../deploy/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRouter{}
	(&Analytics{}).registerOn(r)
	if len(r.paths) == 0 {
		t.Fatal("no routes registered")
	}
	for _, p := range r.paths {
		if !strings.Contains(string(spec), "\n  "+p+":\n") {
			t.Errorf("deploy/openapi.yaml does not describe %s", p)
		}
	}
}

type recordingRouter struct{ paths []string }

func (r *recordingRouter) Handle(method, pattern string, h partnerapi.Handler) {
	r.paths = append(r.paths, pattern)
}

// The clicks route's verdict filter lists every verdict, and the stats breakdowns name
// every verdict and the country and network dimensions.
func TestOpenAPIListsEveryVerdict(t *testing.T) {
	b, err := os.ReadFile("../../deploy/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	i := strings.Index(spec, "enum: [flagged,")
	if i < 0 {
		t.Fatal("deploy/openapi.yaml: no verdict enum on the clicks route")
	}
	enum := spec[i : i+strings.Index(spec[i:], "]")]
	j := strings.Index(spec, "top rows of source,")
	if j < 0 {
		t.Fatal("deploy/openapi.yaml: no description of the stats breakdowns")
	}
	breakdowns := spec[j : j+strings.Index(spec[j:], "additionalProperties")]
	for _, v := range event.Verdicts() {
		if !strings.Contains(enum, " "+v.String()+",") && !strings.Contains(enum, " "+v.String()) {
			t.Errorf("the clicks route's verdict enum lacks %s", v)
		}
		if !strings.Contains(breakdowns, v.String()) {
			t.Errorf("the stats breakdowns' description lacks the verdict %s", v)
		}
	}
	for _, d := range ClickDims {
		if !strings.Contains(breakdowns, d) {
			t.Errorf("the stats breakdowns' description lacks the dimension %s", d)
		}
	}
}
