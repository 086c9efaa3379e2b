package prometheus

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/refedge/refedge/attribution/event"
)

// Label values the rules may match, per metric label, from the code that sets them:
// verdicts from attribution.Verdicts (tracker/metrics.go), beacon outcomes from
// tracker/beacon.go, signup outcomes from attribution/ledger/process.go.
var knownValues = map[string]map[string]bool{
	"outcome": set("confirmed", "revoked", "bad_token", "malformed", // beacon
		"attributed", "no_cookie", "bad_cookie", "click_after_signup", "click_expired", // signups
		"unknown_partner", "blocked_partner", "self_referral"),
}

func set(vs ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func init() {
	knownValues["verdict"] = map[string]bool{}
	for _, v := range event.Verdicts() {
		knownValues["verdict"][v.String()] = true
	}
}

// metricDeclared reports whether name is declared in refedge's Go code.
func metricDeclared(t *testing.T, name string) bool {
	t.Helper()
	found := false
	root := filepath.Join("..", "..")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == ".run") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), `"`+name+`"`) {
			found = true
		}
		return nil
	})
	return found
}

func TestReviewAlertRules(t *testing.T) {
	raw := ReviewAlerts
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.Parse(raw, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	recorded := map[string]bool{}
	alerts := 0
	nameRE := regexp.MustCompile(`^Refedge[A-Z][A-Za-z]+$`)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
				continue
			}
			alerts++
			if !nameRE.MatchString(r.Alert) || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["runbook"] == "" {
				t.Errorf("alert %q needs a Refedge* name, a severity, a summary and a runbook", r.Alert)
			}
			if r.For == 0 {
				t.Errorf("alert %s fires on one evaluation; give it a for:", r.Alert)
			}
		}
	}
	if alerts < 4 {
		t.Fatalf("%d alerts", alerts)
	}
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s%s: %v", r.Record, r.Alert, err)
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				if !recorded[vs.Name] && !seen[vs.Name] {
					if !metricDeclared(t, vs.Name) {
						t.Errorf("%s%s: metric %s is declared nowhere in refedge", r.Record, r.Alert, vs.Name)
					}
					seen[vs.Name] = true
				}
				for _, m := range vs.LabelMatchers {
					checkMatcher(t, r.Record+r.Alert, m)
				}
				return nil
			})
		}
	}
	for _, m := range []string{"refedge_clicks_total", "refedge_beacon_reports_total", "refedge_ledger_signups_total"} {
		if !seen[m] {
			t.Errorf("no rule reads %s", m)
		}
	}
}

// checkMatcher wants every value a matcher names to be one the code emits, so a renamed
// verdict cannot silently turn an alert off.
func checkMatcher(t *testing.T, rule string, m *labels.Matcher) {
	t.Helper()
	known, ok := knownValues[m.Name]
	if !ok {
		if m.Name != labels.MetricName {
			t.Errorf("%s: label %s is not one refedge's metrics carry", rule, m.Name)
		}
		return
	}
	vals := []string{m.Value}
	if m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp {
		vals = strings.Split(m.Value, "|")
	}
	for _, v := range vals {
		if !known[v] {
			t.Errorf("%s: %s=%q is not a value refedge emits", rule, m.Name, v)
		}
	}
}
