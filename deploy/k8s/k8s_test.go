package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/deploy/envdoc"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/envvar"
)

// manifests are the Kubernetes files of this folder and of optional/.
func manifests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("manifests: %v %v", files, err)
	}
	optional, err := filepath.Glob("optional/*.yaml")
	if err != nil || len(optional) == 0 {
		t.Fatalf("optional manifests: %v %v", optional, err)
	}
	return append(files, optional...)
}

type kcResult struct {
	Resources []struct {
		Filename, Kind, Name, Version, Status, Msg string
	} `json:"resources"`
	Summary struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

func runKubeconform(t *testing.T, files ...string) kcResult {
	t.Helper()
	bin, dir := kubeconform(t), schemaDir(t)
	args := append([]string{"-schema-location", schemaLocation(dir), "-summary", "-output", "json", "-verbose"}, files...)
	out, err := exec.Command(bin, args...).Output()
	var res kcResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("kubeconform: %v / %v\n%s", err, jerr, out)
	}
	return res
}

// TestManifestsAgainstSchemas: kubeconform accepts every manifest of every file, against
// strict schemas of Kubernetes 1.36, and rejects a manifest with a misspelt field or a
// missing required one (so the schemas really are strict and complete).
func TestManifestsAgainstSchemas(t *testing.T) {
	files := manifests(t)
	res := runKubeconform(t, files...)
	for _, r := range res.Resources {
		if r.Status != "statusValid" {
			t.Errorf("%s: %s %s/%s: %s %s", r.Filename, r.Kind, r.Version, r.Name, r.Status, r.Msg)
		}
	}
	docs := 0
	for _, f := range files {
		docs += len(yamlDocs(t, f))
	}
	if res.Summary.Valid != docs || res.Summary.Invalid+res.Summary.Errors+res.Summary.Skipped != 0 {
		t.Errorf("kubeconform: %+v, want %d valid", res.Summary, docs)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: x}
spec:
  serviceName: x
  replica: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - image: x
          resources: {limits: {cpu: 1}}
          readinessProbe: {httpGet: {port: admin}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {kind: StatefulSet, name: x}
  minReplicas: "two"
`), 0o644)
	res = runKubeconform(t, bad)
	msgs := ""
	for _, r := range res.Resources {
		msgs += r.Msg + "\n"
	}
	for _, want := range []string{"replica", "name", "maxReplicas", "minReplicas"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("kubeconform did not object to %q in the broken manifests:\n%s", want, msgs)
		}
	}
	if res.Summary.Invalid != 2 {
		t.Errorf("broken manifests: %+v, want 2 invalid", res.Summary)
	}
}

// check runs the check/ module (Prometheus's parsers, a YAML decoder).
func check(t *testing.T, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "."}, args...)...)
	cmd.Dir = "check"
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("check %v: %v\n%s", args, err, stderr.String())
	}
	return out, err
}

func yamlDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	abs, _ := filepath.Abs(file)
	out, err := check(t, nil, "yaml2json", abs)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// get walks a decoded document: keys for maps, ints for lists.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string { s, _ := get(v, path...).(string); return s }

// TestManifestsMatchRefedge checks what schemas cannot: the manifests agree with refedge
// (its variables and their values, its listeners, probe paths, spool, shutdown) and with
// each other (selectors, names, ports).
func TestManifestsMatchRefedge(t *testing.T) {
	byKind := map[string]map[string]any{}
	for _, f := range manifests(t) {
		for _, d := range yamlDocs(t, f) {
			key := str(d, "kind") + "/" + str(d, "metadata", "name")
			if byKind[key] != nil {
				t.Errorf("%s defined twice", key)
			}
			byKind[key] = d
			if ns := str(d, "metadata", "namespace"); str(d, "kind") != "Namespace" && ns != "refedge" {
				t.Errorf("%s in namespace %q", key, ns)
			}
		}
	}
	sts, cm, sec := byKind["StatefulSet/refedge"], byKind["ConfigMap/refedge"], byKind["Secret/refedge"]
	if sts == nil || cm == nil || sec == nil {
		t.Fatalf("missing StatefulSet, ConfigMap or Secret refedge: %v", keys(byKind))
	}
	env := map[string]string{}
	for _, src := range []map[string]any{get(cm, "data").(map[string]any), get(sec, "stringData").(map[string]any)} {
		for k, v := range src {
			if _, dup := env[k]; dup {
				t.Errorf("%s set in both the ConfigMap and the Secret", k)
			}
			env[k], _ = v.(string)
			if !slices.ContainsFunc(envdoc.All(), func(v envvar.Doc) bool { return v.Name == k }) {
				t.Errorf("%s is not a refedge variable", k)
			}
		}
	}
	for _, secret := range []string{"REFEDGE_SECRET", "REFEDGE_CLICKHOUSE_DSN", "REFEDGE_ADMIN_TOKENS"} {
		if _, inCM := get(cm, "data").(map[string]any)[secret]; inCM {
			t.Errorf("%s belongs in the Secret", secret)
		}
		if !strings.Contains(env[secret], "CHANGE-ME") {
			t.Errorf("%s in secret.yaml is not a placeholder", secret)
		}
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("refedge rejects the ConfigMap and Secret: %v", err)
	}
	if err := cfg.ServeRules(); err != nil {
		t.Fatalf("refedge serve would refuse the ConfigMap and Secret: %v", err)
	}

	pod := get(sts, "spec", "template")
	c := get(pod, "spec", "containers", 0)
	ports := map[string]int{}
	for _, p := range get(c, "ports").([]any) {
		ports[str(p, "name")] = int(get(p, "containerPort").(float64))
	}
	portOf := func(addr string) int {
		_, p, _ := net.SplitHostPort(addr)
		var n int
		fmt.Sscan(p, &n)
		return n
	}
	if ports["http"] != portOf(cfg.HTTPAddr) || ports["admin"] != portOf(cfg.AdminAddr) {
		t.Errorf("container ports %v, REFEDGE_HTTP_ADDR %s, REFEDGE_ADMIN_ADDR %s", ports, cfg.HTTPAddr, cfg.AdminAddr)
	}
	if h, _, _ := net.SplitHostPort(cfg.AdminAddr); h == "127.0.0.1" || h == "localhost" {
		t.Errorf("REFEDGE_ADMIN_ADDR %s: the kubelet probes the pod IP", cfg.AdminAddr)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		if str(c, probe, "httpGet", "path") != path || str(c, probe, "httpGet", "port") != "admin" {
			t.Errorf("%s: %v, want GET %s on the admin port", probe, get(c, probe), path)
		}
	}
	mounted := ""
	for _, m := range get(c, "volumeMounts").([]any) {
		if str(m, "name") == "spool" {
			mounted = str(m, "mountPath")
		}
	}
	if mounted == "" || mounted != cfg.SpoolDir || str(sts, "spec", "volumeClaimTemplates", 0, "metadata", "name") != "spool" {
		t.Errorf("spool: mounted at %q from a claim template, REFEDGE_SPOOL_DIR %q", mounted, cfg.SpoolDir)
	}
	grace := time.Duration(get(pod, "spec", "terminationGracePeriodSeconds").(float64)) * time.Second
	if cfg.ShutdownTimeout+10*time.Second > grace {
		t.Errorf("REFEDGE_SHUTDOWN_TIMEOUT %v leaves too little of terminationGracePeriodSeconds %v for the preStop pause", cfg.ShutdownTimeout, grace)
	}
	for _, path := range [][]any{
		{"spec", "securityContext", "runAsNonRoot"},
		{"spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"},
	} {
		if get(pod, path...) != true {
			t.Errorf("pod %v is not true", path)
		}
	}
	if fmt.Sprint(get(c, "securityContext", "capabilities", "drop")) != "[ALL]" || get(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("container securityContext %v", get(c, "securityContext"))
	}
	if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("container resources %v", get(c, "resources"))
	}
	labels := get(pod, "metadata", "labels").(map[string]any)
	matches := func(what string, sel any) {
		t.Helper()
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s has no selector", what)
		}
		for k, v := range m {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", what, k, v)
			}
		}
	}
	matches("StatefulSet", get(sts, "spec", "selector", "matchLabels"))
	matches("Service refedge", get(byKind["Service/refedge"], "spec", "selector"))
	matches("Service refedge-pods", get(byKind["Service/refedge-pods"], "spec", "selector"))
	matches("PodDisruptionBudget", get(byKind["PodDisruptionBudget/refedge"], "spec", "selector", "matchLabels"))
	if str(sts, "spec", "serviceName") != "refedge-pods" || get(byKind["Service/refedge-pods"], "spec", "clusterIP") != "None" {
		t.Error("the StatefulSet's serviceName is not the headless Service refedge-pods")
	}
	hpa := byKind["HorizontalPodAutoscaler/refedge"]
	if str(hpa, "spec", "scaleTargetRef", "kind") != "StatefulSet" || str(hpa, "spec", "scaleTargetRef", "name") != "refedge" ||
		str(hpa, "spec", "metrics", 0, "resource", "name") != "cpu" {
		t.Errorf("HPA %v", get(hpa, "spec"))
	}
	if get(hpa, "spec", "minReplicas").(float64) < 2 {
		t.Error("HPA minReplicas below 2: the PodDisruptionBudget could never allow an eviction")
	}
	// The IP databases: the ConfigMap points at the folder the image carries, and the
	// optional refresh job writes the file names the variables use.
	for _, k := range []string{"REFEDGE_GEO_COUNTRY_DB", "REFEDGE_GEO_ASN_DB"} {
		if !strings.HasPrefix(env[k], "/var/lib/refedge/geo/") {
			t.Errorf("%s %q: not the image's databases (/var/lib/refedge/geo)", k, env[k])
		}
	}
	refresh := get(byKind["CronJob/refedge-geo-refresh"], "spec", "jobTemplate", "spec", "template", "spec")
	if fmt.Sprint(get(refresh, "containers", 0, "args")) != "[fetch]" ||
		str(refresh, "volumes", 0, "persistentVolumeClaim", "claimName") != "refedge-geo" || byKind["PersistentVolumeClaim/refedge-geo"] == nil {
		t.Errorf("geo refresh CronJob %v", refresh)
	}
	for _, job := range []string{"Job/refedge-migrate", "Job/refedge-kafka-topics"} {
		args := fmt.Sprint(get(byKind[job], "spec", "template", "spec", "containers", 0, "args"))
		if !strings.Contains(args, strings.TrimPrefix(job, "Job/refedge-")) {
			t.Errorf("%s runs %s", job, args)
		}
	}
}

var metricNameRE = regexp.MustCompile(`Name:\s*"(refedge_[a-z0-9_]+)"`)

// refedgeMetrics lists the metric names declared in refedge's Go code.
func refedgeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(repoRoot(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".run" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range metricNameRE.FindAllSubmatch(b, -1) {
				out[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type checkReport struct {
	Errors  []string `json:"errors"`
	Metrics []string `json:"metrics"`
}

// known reports whether a metric a query selects exists: refedge's own (histograms
// through their series), a recording rule of ours, or Prometheus's and cAdvisor's.
func known(name string, metrics map[string]bool) bool {
	if metrics[name] || strings.HasPrefix(name, "refedge:") || name == "up" || name == "container_cpu_usage_seconds_total" {
		return true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if metrics[strings.TrimSuffix(name, s)] {
			return true
		}
	}
	return false
}

// TestPrometheusRulesAndDashboard: the alert rules parse with Prometheus's rule loader
// (YAML shape, PromQL, templates), the dashboard's queries with its PromQL parser; every
// metric they use is one refedge declares; every alert has a runbook in
// docs/operations.md; the scrape job finds the pods' admin port.
func TestPrometheusRulesAndDashboard(t *testing.T) {
	metrics := refedgeMetrics(t)
	if !metrics["refedge_clicks_total"] || !metrics["refedge_spool_bytes"] {
		t.Fatalf("metric scan found %d names, not the ones every dashboard uses", len(metrics))
	}
	rules, _ := filepath.Abs("prometheus/refedge.rules.yml")
	out, _ := check(t, nil, "rules", rules)
	var rep checkReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, e := range rep.Errors {
		t.Errorf("rules: %s", e)
	}
	for _, m := range rep.Metrics {
		if !known(m, metrics) {
			t.Errorf("rules select %s, which refedge does not export", m)
		}
	}

	docs := yamlDocs(t, "prometheus/refedge.rules.yml")
	ops, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, l := range strings.Split(string(ops), "\n") {
		if strings.HasPrefix(l, "#") {
			headings[strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))] = true
		}
	}
	alerts := 0
	for _, g := range get(docs[0], "groups").([]any) {
		for _, r := range get(g, "rules").([]any) {
			name := str(r, "alert")
			if name == "" {
				continue
			}
			alerts++
			url := str(r, "annotations", "runbook_url")
			if !strings.HasSuffix(url, "docs/operations.md#"+strings.ToLower(name)) || !headings[strings.ToLower(name)] {
				t.Errorf("alert %s: runbook_url %q, and docs/operations.md needs a heading %q", name, url, name)
			}
			if sev := str(r, "labels", "severity"); sev != "warning" && sev != "critical" {
				t.Errorf("alert %s: severity %q", name, sev)
			}
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerts", alerts)
	}

	var dash struct {
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			GridPos *struct{ X, Y, W, H int }
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		UID string `json:"uid"`
	}
	b, err := os.ReadFile("grafana/refedge-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] || p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: duplicate id or bad grid position", p.ID, p.Title)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m").Replace(tg.Expr))
		}
	}
	in, _ := json.Marshal(exprs)
	out, _ = check(t, in, "exprs")
	rep = checkReport{}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, e := range rep.Errors {
		t.Errorf("dashboard: %s", e)
	}
	for _, m := range rep.Metrics {
		if !known(m, metrics) {
			t.Errorf("dashboard selects %s, which refedge does not export", m)
		}
	}

	prom := yamlDocs(t, "prometheus/prometheus.yml")[0]
	if fmt.Sprint(get(prom, "rule_files")) != "[refedge.rules.yml review-alerts.yml]" {
		t.Errorf("prometheus.yml rule_files %v", get(prom, "rule_files"))
	}
	// review-alerts.yml is deploy/prometheus's, validated there; it must still exist.
	if _, err := os.Stat("../prometheus/review-alerts.yml"); err != nil {
		t.Errorf("prometheus.yml loads review-alerts.yml: %v", err)
	}
	job := get(prom, "scrape_configs", 0)
	keep := ""
	for _, rc := range get(job, "relabel_configs").([]any) {
		if str(rc, "action") == "keep" {
			keep = str(rc, "regex")
		}
	}
	if str(job, "job_name") != "refedge" || str(job, "metrics_path") != "/metrics" || keep != "refedge-pods;admin" {
		t.Errorf("scrape job %v does not keep the headless Service's admin port", job)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
