package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/testenv"
)

// Versions of the offline validators.
const (
	kubeconformModule = "github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
	kubernetesModule  = "k8s.io/kubernetes@v1.36.3" // its api/openapi-spec/swagger.json
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// goCmd runs the go command in dir outside any workspace and returns its stdout.
func goCmd(t *testing.T, dir string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testenv.Required(t, "go "+strings.Join(args, " "),
			fmt.Sprintf("the Go module proxy must be reachable (%v: %s)", err, strings.TrimSpace(stderr.String())))
	}
	return out
}

// kubeconform installs kubeconform from the Go module proxy into .run/tools (once per
// machine) and returns its path.
func kubeconform(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(), ".run", "tools", strings.ReplaceAll(filepath.Base(kubeconformModule), "@", "-"))
	bin := filepath.Join(dir, "kubeconform")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	goCmd(t, t.TempDir(), []string{"GOBIN=" + dir}, "install", kubeconformModule)
	return bin
}

// schemaDir generates (once per machine) strict JSON schemas for every kind of the
// Kubernetes release from its OpenAPI v2 document, laid out as kubeconform's
// -schema-location template below expects, and returns the folder.
func schemaDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(), ".run", "k8s-schemas", strings.ReplaceAll(kubernetesModule, "/", "_"))
	if _, err := os.Stat(filepath.Join(dir, "_definitions.json")); err == nil {
		return dir
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(goCmd(t, t.TempDir(), nil, "mod", "download", "-json", kubernetesModule), &mod); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSchemas(b, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// schemaLocation is the kubeconform -schema-location template for schemaDir's layout.
func schemaLocation(dir string) string {
	return filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")
}

// writeSchemas turns swagger's definitions into one strict _definitions.json (objects
// allow no properties beyond their own, as the API server's strict field validation)
// and one small file per group/version/kind that refers to its definition.
func writeSchemas(swagger []byte, dir string) error {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &doc); err != nil {
		return fmt.Errorf("swagger.json: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defs := map[string]any{}
	for name, def := range doc.Definitions {
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
			continue
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
			continue
		}
		defs[name] = strict(def)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			suffix := "-" + version
			if group != "" {
				suffix = "-" + strings.Split(group, ".")[0] + "-" + version
			}
			ref, _ := json.Marshal(map[string]string{"$ref": "_definitions.json#/definitions/" + name})
			if err := os.WriteFile(filepath.Join(tmp, strings.ToLower(kind)+suffix+".json"), ref, 0o644); err != nil {
				return err
			}
		}
	}
	b, err := json.Marshal(map[string]any{"definitions": defs})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "_definitions.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "_definitions.json")); serr == nil {
			return nil // another test process generated them meanwhile
		}
		return err
	}
	return nil
}

// strict adds additionalProperties: false to every object schema that lists its
// properties and says nothing about others.
func strict(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m)+1)
	for k, val := range m {
		switch x := val.(type) {
		case map[string]any:
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range x {
					props[pk] = strict(pv)
				}
				out[k] = props
			} else {
				out[k] = strict(x)
			}
		default:
			out[k] = val
		}
	}
	if _, ok := out["properties"]; ok {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	return out
}
