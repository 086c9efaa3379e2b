package analytics

import (
	"os"
	"strings"
	"testing"

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
