package widget

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/partners"
)

func TestPartnerAPI(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "alice", partners.Active)
	f.partner(t, "bob", partners.Active)
	alice := map[string]string{"Authorization": "Bearer " + f.auth.IssueToken("alice").Token}
	bob := map[string]string{"Authorization": "Bearer " + f.auth.IssueToken("bob").Token}
	call := func(method, path, body string, hdr map[string]string) (int, map[string]any) {
		t.Helper()
		resp := do(f.api.Serve, method, path, []byte(body), hdr)
		var out map[string]any
		if len(resp.Body()) > 0 {
			if err := json.Unmarshal(resp.Body(), &out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, resp.Body())
			}
		}
		return resp.StatusCode(), out
	}

	code, w := call("POST", "/api/v1/widgets", `{"category":"design","size":"728x90","theme":"dark","accent":"#FF0000","cards":4,"rotation_seconds":3,"language":"ru","name":"Header"}`, alice)
	if code != 201 {
		t.Fatalf("create = %d %v", code, w)
	}
	id, _ := w["id"].(string)
	if !validWidgetID(id) || w["partner_id"] != "alice" || w["size"] != "728x90" || w["accent"] != "#ff0000" || w["cards"] != 4.0 {
		t.Fatalf("created = %v", w)
	}
	if w["embed_script"] != `<script async src="`+testPublic+`/w/`+id+`.js"></script>` {
		t.Fatalf("embed_script = %v", w["embed_script"])
	}
	if s, _ := w["embed_iframe"].(string); !strings.HasPrefix(s, `<iframe src="`+testPublic+`/w/`+id+`" width="728" height="90"`) ||
		!strings.Contains(s, `sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"`) {
		t.Fatalf("embed_iframe = %v", w["embed_iframe"])
	}
	call("POST", "/api/v1/widgets", `{"kwork_ids":["1","2"]}`, alice)
	call("POST", "/api/v1/widgets", `{"category":"writing"}`, bob)

	code, list := call("GET", "/api/v1/widgets", "", alice)
	if ws, _ := list["widgets"].([]any); code != 200 || len(ws) != 2 {
		t.Fatalf("alice's list = %d %v", code, list)
	}
	if code, got := call("GET", "/api/v1/widgets/"+id, "", alice); code != 200 || got["name"] != "Header" {
		t.Fatalf("get = %d %v", code, got)
	}
	// Another partner's widget does not exist for bob: read, edit, delete.
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if code, _ := call(m, "/api/v1/widgets/"+id, `{"category":"x"}`, bob); code != 404 {
			t.Fatalf("bob %s alice's widget = %d, want 404", m, code)
		}
	}
	if code, got := call("PUT", "/api/v1/widgets/"+id, `{"category":"design","cards":13}`, alice); code != 400 || !strings.Contains(got["error"].(string), "cards") {
		t.Fatalf("bad update = %d %v", code, got)
	}
	if code, got := call("PUT", "/api/v1/widgets/"+id, `{"category":"writing","size":"88x31"}`, alice); code != 200 || got["size"] != "88x31" || got["theme"] != "light" {
		t.Fatalf("update = %d %v", code, got)
	}
	if code, _ := call("POST", "/api/v1/widgets", `{"category":"design","size":"5000x5000"}`, alice); code != 400 {
		t.Fatalf("oversized = %d", code)
	}
	if code, _ := call("GET", "/api/v1/widgets", "", nil); code != 401 {
		t.Fatalf("anonymous = %d", code)
	}
	if code, _ := call("GET", "/api/v1/widgets/not-an-id", "", alice); code != 404 {
		t.Fatalf("malformed id = %d", code)
	}
	if code, _ := call("DELETE", "/api/v1/widgets/"+id, "", alice); code != 204 {
		t.Fatalf("delete = %d", code)
	}
	if code, _ := call("GET", "/api/v1/widgets/"+id, "", alice); code != 404 {
		t.Fatalf("deleted = %d", code)
	}
	if resp := do(f.svc.Handler(), "GET", "/w/"+id, nil, nil); resp.StatusCode() != 404 {
		t.Fatalf("a deleted widget's frame = %d, want 404", resp.StatusCode())
	}
	_, list = call("GET", "/api/v1/widgets", "", alice)
	if ws, _ := list["widgets"].([]any); len(ws) != 1 {
		t.Fatalf("after delete: %v", list)
	}
}

func TestPartnerAPIWidgetLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxWidgetsPerPartner = 2 })
	hdr := map[string]string{"Authorization": "Bearer " + f.auth.IssueToken("carol").Token}
	for i, want := range []int{201, 201, 409} {
		if code := do(f.api.Serve, "POST", "/api/v1/widgets", []byte(`{"category":"design"}`), hdr).StatusCode(); code != want {
			t.Fatalf("create %d = %d, want %d", i, code, want)
		}
	}
}
