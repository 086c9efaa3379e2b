package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/kafkax"
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
//
// The audit trail then holds exactly one entry per call of the walk that was not a read
// and reached a handler, under the caller's credential name, in ClickHouse and on
// refedge.audit; and no entry anywhere holds a partner token, login link, session or
// operator secret.
func TestAdminRoles(t *testing.T) {
	// Routes whose baseline asks the ledger about an order or user the fixture never
	// made: their handler answers 404.
	missingRecord := map[string]bool{"ledger-order-decisions": true, "ledger-referral": true, "console-order": true, "console-referral": true}
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
		{"the admin", "Authorization: " + admintest.Bearer(admintest.OperatorSecret) + "\r\n", admin.RoleAdmin},
	}
	names := map[string]string{"the viewer": admintest.ViewerName, "the admin": admintest.OperatorName}
	counts := map[string]int{}
	audited := map[string]int{} // credential name: calls that should be in the trail
	secrets := []string{admintest.AdminSecret, admintest.ViewerSecret, admintest.OperatorSecret}
	for _, k := range []string{"tokA", "tokB", "tokrevToken", "sessA", "sessB", "login"} {
		secrets = append(secrets, fx.vals[k])
	}
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
				if code/100 != 2 && code/100 != 3 && !(code == http.StatusNotFound && missingRecord[r.name]) {
					want = "a 2xx or 3xx answer from the handler"
				}
			}
			if want != "" {
				t.Errorf("%s %s (%s role) as %s: %d, want %s: %s", c.method, r.path, role, who.name, code, want, clip(res.resps[0].body, 300))
			}
			counts[fmt.Sprintf("%s:%d", who.name, code)]++
			if role != admin.RoleOpen && names[who.name] != "" && who.role >= role && c.method != "GET" && c.method != "HEAD" {
				audited[names[who.name]]++
				// What the call minted is a secret the trail must not hold.
				var out map[string]any
				if json.Unmarshal(res.resps[0].body, &out) == nil {
					for _, k := range []string{"token", "url"} {
						if v, ok := out[k].(string); ok && v != "" {
							secrets = append(secrets, v)
							if i := strings.Index(v, "t="); i >= 0 {
								secrets = append(secrets, v[i+2:])
							}
						}
					}
				}
			}
		}
	}
	t.Logf("answers: %v; audited calls: %v", counts, audited)
	if audited[admintest.OperatorName] < 8 {
		t.Fatalf("the walk made only %d changes as an admin: it is not exercising the audit trail", audited[admintest.OperatorName])
	}
	checkAuditTrail(t, s, audited, secrets)
}

// checkAuditTrail waits until ClickHouse's admin_audit holds want[name] entries for each
// credential name in want, checks refedge.audit holds the same, and searches every
// stored entry (of any operator) for the secrets.
func checkAuditTrail(t *testing.T, s *stack, want map[string]int, secrets []string) {
	t.Helper()
	ctx := t.Context()
	conn, _, err := sink.OpenClickHouse(ctx, s.cfg.chDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got map[string]int
	var texts []string
	waitEvery(t, "the audit trail in ClickHouse", 30*time.Second, 100*time.Millisecond, func() bool {
		rows, err := conn.Query(ctx, "SELECT operator, role, method, route, path, target, partner_id, status, state_before, state_after, client FROM "+s.db+".admin_audit")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got, texts = map[string]int{}, nil
		for rows.Next() {
			var op, role, method, route, path, target, partner, before, after, client string
			var status uint16
			if err := rows.Scan(&op, &role, &method, &route, &path, &target, &partner, &status, &before, &after, &client); err != nil {
				t.Fatal(err)
			}
			got[op]++
			texts = append(texts, strings.Join([]string{op, role, method, route, path, target, partner, before, after, client}, "|"))
		}
		for name, n := range want {
			if got[name] < n {
				return false
			}
		}
		return true
	})
	for name, n := range want {
		if got[name] != n {
			t.Errorf("ClickHouse holds %d audit entries of %s, want one per change: %d", got[name], name, n)
		}
	}
	if got[""] > 0 {
		t.Errorf("%d audit entries name no operator", got[""])
	}
	var kafkaGot map[string]int
	waitEvery(t, "the audit trail on refedge.audit", 30*time.Second, 100*time.Millisecond, func() bool {
		msgs, err := kafkax.ReadAll(ctx, s.brokers, event.TopicAudit)
		if err != nil {
			t.Fatal(err)
		}
		kafkaGot = map[string]int{}
		for _, m := range msgs {
			var env event.Envelope
			var e admin.AuditEntry
			if json.Unmarshal(m.Value, &env) != nil || json.Unmarshal(env.Payload, &e) != nil || env.Type != sink.TypeAdminAudited {
				t.Fatalf("not an audit envelope: %q", m.Value)
			}
			kafkaGot[e.Operator]++
			texts = append(texts, string(m.Value))
		}
		for name, n := range want {
			if kafkaGot[name] < n {
				return false
			}
		}
		return true
	})
	for name, n := range want {
		if kafkaGot[name] != n {
			t.Errorf("refedge.audit holds %d entries of %s, want %d", kafkaGot[name], name, n)
		}
	}
	for _, txt := range texts {
		for _, sec := range secrets {
			if len(sec) >= 16 && strings.Contains(txt, sec) {
				t.Errorf("an audit entry holds a secret (%s...): %s", sec[:8], clip([]byte(txt), 300))
			}
		}
	}
	t.Logf("audit trail: ClickHouse %v, Kafka %v, %d secrets searched for", got, kafkaGot, len(secrets))
}

// TestServeNeedsAdminCredential: outside development, serve stops before opening
// anything when REFEDGE_ADMIN_TOKENS is empty, naming the variable; a bad entry is
// reported without its secret.
func TestServeNeedsAdminCredential(t *testing.T) {
	env := map[string]string{
		"REFEDGE_MARKET_ORIGIN":  "https://market.example",
		"REFEDGE_SECRET":         "serve-test-secret-0123456789",
		"REFEDGE_CLICKHOUSE_DSN": "clickhouse://127.0.0.1:1/none",
		"REFEDGE_REDIS_URL":      "redis://127.0.0.1:1/0",
		"REFEDGE_KAFKA_BROKERS":  "127.0.0.1:1",
	}
	serve := func() (int, string) {
		var stdout, stderr strings.Builder
		code := run([]string{"serve"}, func(k string) string { return env[k] }, &stdout, &stderr)
		return code, stderr.String()
	}
	if code, out := serve(); code != 2 || !strings.Contains(out, "REFEDGE_ADMIN_TOKENS: is required") {
		t.Fatalf("serve without credentials: exit %d\n%s", code, out)
	}
	env["REFEDGE_ADMIN_TOKENS"] = "ops:admin:short-secret-xyz"
	if code, out := serve(); code != 2 || !strings.Contains(out, "REFEDGE_ADMIN_TOKENS: entry 1 (ops)") || strings.Contains(out, "short-secret-xyz") {
		t.Fatalf("serve with a short secret: exit %d\n%s", code, out)
	}
}
