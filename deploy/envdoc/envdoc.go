// Package envdoc gathers every variable a running refedge reads, from the table of
// each part that reads it: what --help prints and what the deployment manifests may
// set. The process's own come first, then each part's optional tunables.
package envdoc

import (
	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/banners"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/tracker"
	"github.com/refedge/refedge/widget"
)

// Process returns the variables every command reads (config.Load).
func Process() []envvar.Doc { return config.Vars.Docs() }

// Parts returns the optional tunables of serve's parts, each read by its own LoadEnv.
func Parts() []envvar.Doc {
	var out []envvar.Doc
	for _, d := range [][]envvar.Doc{pipeline.Vars.Docs(), ledger.Vars.Docs(), analytics.Vars.Docs(), widget.Vars.Docs(),
		banners.Vars.Docs(), tracker.LinkVars.Docs()} {
		out = append(out, d...)
	}
	return out
}

// All returns Process and Parts.
func All() []envvar.Doc { return append(Process(), Parts()...) }
