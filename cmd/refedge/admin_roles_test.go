package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
)

// TestAdminRoleTable: every admin route the hostile suite exercises (which the drift
// test keeps equal to what serve.go registers) has a role in internal/admin's table,
// and the table names no route that is not registered.
func TestAdminRoleTable(t *testing.T) {
	declared := admin.RouteRoles()
	exercised := map[string]bool{}
	for _, r := range hostileRoutes {
		if !r.admin {
			continue
		}
		p := strings.TrimPrefix(r.reg, "admin ")
		exercised[p] = true
		if _, ok := declared[p]; !ok {
			t.Errorf("admin route %q has no role in internal/admin/roles.go", p)
		}
	}
	var stale []string
	for p := range declared {
		if !exercised[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("internal/admin/roles.go declares patterns nothing registers:\n  %s", strings.Join(stale, "\n  "))
	}
}

// TestAdminRoles walks every admin route of the real binary with no credential, a
// viewer's and an admin's (the hostile suite's baseline request of each): open routes
// answer everyone; others answer 401 without a credential, 403 to a viewer on an admin
// route, and what the handler answers (never 401, 403 or a 5xx) to a role that may.
// The lesser credentials go first, so a refused change would show in the admin's call.
func TestAdminRoles(t *testing.T) {
	s := startStack(t)
	fx := newHostileFixture(t, s)
	adminLine := "Authorization: " + admintest.Bearer(admintest.AdminSecret) + "\r\n"
	callers := []struct {
		name string
		line string
		role admin.Role
	}{
		{"no credential", "", admin.RoleOpen},
		{"a wrong credential", "Authorization: Bearer wrong-" + admintest.ViewerSecret + "\r\n", admin.RoleOpen},
		{"the viewer", "Authorization: " + admintest.Bearer(admintest.ViewerSecret) + "\r\n", admin.RoleViewer},
		{"the admin", adminLine, admin.RoleAdmin},
	}
	counts := map[string]int{}
	for i := range hostileRoutes {
		r := &hostileRoutes[i]
		if !r.admin {
			continue
		}
		role, ok := admin.RoleOf(strings.TrimPrefix(r.reg, "admin "))
		if !ok {
			t.Errorf("%s: no role", r.name)
			continue
		}
		c := fx.build(r, mutation{})
		if role != admin.RoleOpen && !strings.Contains(string(c.raw), adminLine) {
			t.Fatalf("%s: the baseline request carries no admin credential", r.name)
		}
		for _, who := range callers {
			raw := strings.Replace(string(c.raw), adminLine, who.line, 1)
			res := rawExchange(c.addr, []byte(raw), c.method, c.timeout)
			if res.err != nil || len(res.resps) != 1 {
				t.Errorf("%s as %s: %d responses, %v", r.name, who.name, len(res.resps), res.err)
				continue
			}
			code := res.resps[0].StatusCode
			var want string
			switch {
			case role == admin.RoleOpen:
				if code == 401 || code == 403 || code >= 500 {
					want = "an answer from the handler (open route)"
				}
			case who.role == admin.RoleOpen:
				if code != http.StatusUnauthorized {
					want = "401"
				}
			case who.role < role:
				if code != http.StatusForbidden {
					want = "403"
				}
			default:
				if code == 401 || code == 403 || code == 429 || code >= 500 {
					want = "an answer from the handler"
				}
			}
			if want != "" {
				t.Errorf("%s %s (%s role) as %s: %d, want %s: %s", c.method, r.path, role, who.name, code, want, clip(res.resps[0].body, 300))
			}
			counts[fmt.Sprintf("%s:%d", who.name, code)]++
		}
	}
	t.Logf("answers: %v", counts)
}
