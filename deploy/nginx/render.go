package nginx

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// Template is refedge.conf.template.
//
//go:embed refedge.conf.template
var Template string

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Render fills the template's ${NAME} placeholders from vars, as the nginx image's
// envsubst does; a placeholder without a value is an error.
func Render(tmpl string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(p string) string {
		name := p[2 : len(p)-1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return p
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("nginx template: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Placeholders lists the template's ${NAME} placeholders.
func Placeholders(tmpl string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}
