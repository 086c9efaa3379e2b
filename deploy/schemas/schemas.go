// Package schemas embeds the JSON Schemas (draft 2020-12) of every event refedge's ledger
// consumes or produces, with one example each: <type>.schema.json and
// <type>.example.json. defs.schema.json holds the shared envelope and field definitions
// the others reference. The ledger validates every input event against them at run time
// and dead-letters what does not conform; tests validate the examples and everything
// the ledger produces.
package schemas

import "embed"

// FS holds every *.json file of this folder.
//
//go:embed *.json
var FS embed.FS

// BaseURL is the $id prefix of every schema; a schema's $id is BaseURL + file name.
const BaseURL = "https://github.com/refedge/refedge/deploy/schemas/"
