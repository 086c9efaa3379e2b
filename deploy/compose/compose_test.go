package compose

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/refedge/refedge/deploy/envdoc"
	"github.com/refedge/refedge/deploy/nginx"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/testenv"
)

type service struct {
	Image       string            `json:"image"`
	Build       map[string]string `json:"build"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Volumes []any `json:"volumes"`
	Ports   []any `json:"ports"`
	User    string
}

// composeConfig runs `docker-compose config` (which validates the file) and returns the
// resolved stack, turned into JSON by Python's yaml module (a dependency of Debian's
// docker-compose).
func composeConfig(t *testing.T, env ...string) map[string]service {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		testenv.Required(t, "docker-compose", "run `deploy/dev/services.sh install --deploy`")
	}
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	conv := exec.Command("python3", "-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	conv.Stdin = bytes.NewReader(out)
	js, err := conv.Output()
	if err != nil {
		t.Fatalf("yaml to json: %v", err)
	}
	var doc struct {
		Services map[string]service `json:"services"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Services
}

func TestComposeStack(t *testing.T) {
	svcs := composeConfig(t)
	var names []string
	for n := range svcs {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"clickhouse", "kafka", "kafka-init", "market", "migrate", "nginx", "redis", "refedge-1", "refedge-2"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for _, n := range names {
		s := svcs[n]
		oneShot := n == "kafka-init" || n == "migrate"
		if !oneShot && (s.Healthcheck == nil || len(s.Healthcheck.Test) == 0) {
			t.Errorf("%s has no health check", n)
		}
		if s.Image == "refedge:local" && s.Build["dockerfile"] != "deploy/compose/Dockerfile" {
			t.Errorf("%s runs refedge:local without building it (it would be pulled)", n)
		}
	}
	for _, n := range []string{"refedge-1", "refedge-2", "migrate"} {
		s := svcs[n]
		// The environment is valid for refedge itself: every variable known, every value
		// accepted (secrets only as placeholders of the right shape).
		for k := range s.Environment {
			if strings.HasPrefix(k, "REFEDGE_") && !slices.ContainsFunc(envdoc.All(), func(v envvar.Doc) bool { return v.Name == k }) {
				t.Errorf("%s: %s is not a refedge variable (refedge --help)", n, k)
			}
		}
		cfg, err := config.Load(func(k string) string { return s.Environment[k] })
		if err != nil {
			t.Errorf("%s: refedge rejects the environment: %v", n, err)
		} else if err := cfg.ServeRules(); err != nil && n != "migrate" {
			t.Errorf("%s: refedge serve would refuse the environment: %v", n, err)
		}
	}
	for _, n := range []string{"refedge-1", "refedge-2"} {
		s := svcs[n]
		for _, dep := range []string{"kafka-init", "migrate"} {
			if s.DependsOn[dep].Condition != "service_completed_successfully" {
				t.Errorf("%s starts before %s has completed", n, dep)
			}
		}
		if len(s.Volumes) == 0 {
			t.Errorf("%s has no spool volume", n)
		}
		if len(s.Ports) != 0 {
			t.Errorf("%s publishes ports: traffic goes through nginx, and the admin listener stays internal", n)
		}
		// The network step is on, from the databases in the image (TestDockerfile).
		if !strings.HasPrefix(s.Environment["REFEDGE_GEO_COUNTRY_DB"], "/var/lib/refedge/geo/") ||
			!strings.HasPrefix(s.Environment["REFEDGE_GEO_ASN_DB"], "/var/lib/refedge/geo/") {
			t.Errorf("%s: REFEDGE_GEO_COUNTRY_DB %q, REFEDGE_GEO_ASN_DB %q: not the image's databases", n,
				s.Environment["REFEDGE_GEO_COUNTRY_DB"], s.Environment["REFEDGE_GEO_ASN_DB"])
		}
	}
	if got := strings.Join(svcs["kafka-init"].Command, " "); got != "kafka-topics --replication-factor 1" {
		t.Errorf("kafka-init runs %q", got)
	}
	// nginx fills exactly the template's placeholders, with the two replicas upstream.
	env := svcs["nginx"].Environment
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	ph := nginx.Placeholders(nginx.Template)
	sort.Strings(keys)
	sort.Strings(ph)
	if !slices.Equal(keys, ph) {
		t.Errorf("nginx environment %v, template placeholders %v", keys, ph)
	}
	if conf, err := nginx.Render(nginx.Template, env); err != nil || !strings.Contains(conf, "server refedge-1:8080") || !strings.Contains(conf, "server refedge-2:8080") {
		t.Errorf("nginx template with the compose values: %v", err)
	}
	// Secrets come from the environment when set.
	svcs = composeConfig(t, "REFEDGE_SECRET=from-the-environment-0123456789")
	if got := svcs["refedge-1"].Environment["REFEDGE_SECRET"]; got != "from-the-environment-0123456789" {
		t.Errorf("REFEDGE_SECRET from the environment: got %q", got)
	}
}

// TestDockerfile checks the image recipe: multi-stage, static (no cgo), non-root, the
// probe as health check, and that the binary's packages all build without cgo.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		`(?m)^FROM golang:1\.26\S* AS build$`,
		`CGO_ENABLED=0`,
		`-o /out/refedge \./cmd/refedge`,
		`(?m)^FROM gcr\.io/distroless/static\S*:nonroot$`,
		`(?m)^USER 65532:65532$`,
		`(?m)^HEALTHCHECK .*CMD \["refedge", "probe"\]$`,
		`(?m)^ENTRYPOINT \["refedge"\]$`,
	} {
		if !regexp.MustCompile(want).MatchString(df) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if !strings.Contains(df, "COPY --from=build --chown=65532:65532 /out/spool /var/lib/refedge/spool") {
		t.Error("the spool folder is not owned by the non-root user")
	}
	// The IP databases: installed by deploy/scripts/geo-data.sh (pinned versions, licence
	// files) into the image, and the variables pointing at them are the ones the script
	// prints for that folder.
	for _, want := range []string{
		`(?m)^FROM node:\S+ AS geo$`,
		`(?m)^RUN RFE_GEO_DIR=/out/geo deploy/scripts/geo-data\.sh fetch`,
		`(?m)^COPY --from=geo /out/geo /var/lib/refedge/geo$`,
	} {
		if !regexp.MustCompile(want).MatchString(df) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	geo := exec.Command("bash", filepath.Join("..", "scripts", "geo-data.sh"), "env")
	geo.Env = append(os.Environ(), "RFE_GEO_DIR=/var/lib/refedge/geo")
	exports, err := geo.Output()
	if err != nil {
		t.Fatalf("geo-data.sh env: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(exports)), "\n") {
		kv := strings.TrimPrefix(l, "export ")
		if !regexp.MustCompile(`(?m)^(ENV|\s+)\s*` + regexp.QuoteMeta(kv) + `( \\)?$`).MatchString(df) {
			t.Errorf("Dockerfile does not set %s", kv)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .CgoFiles}}{{.ImportPath}}{{end}}", "./cmd/refedge")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("packages that still use cgo with CGO_ENABLED=0: %s", s)
	}
}
