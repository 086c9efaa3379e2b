// Command check validates refedge's deployment files offline with the parsers of the
// tools that read them. It is its own Go module so that refedge's go.mod does not carry
// Prometheus; deploy/k8s's test runs it with `go run`.
//
//	check rules FILE...   parse Prometheus rule files (YAML shape, PromQL, templates)
//	check exprs           parse the JSON array of PromQL expressions on stdin
//	check yaml2json FILE  print the YAML documents of FILE as a JSON array (strict:
//	                      duplicate keys are errors)
//
// rules and exprs print JSON: {"errors": [...], "metrics": [...]}, metrics being every
// metric name the expressions select, and exit 1 when there are errors.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

type report struct {
	Errors  []string `json:"errors"`
	Metrics []string `json:"metrics"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check rules FILE... | check exprs < exprs.json | check yaml2json FILE")
		os.Exit(2)
	}
	rep := report{Errors: []string{}, Metrics: []string{}}
	metrics := map[string]bool{}
	addExpr := func(where, expr string) {
		e, err := parser.ParseExpr(expr)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", where, err))
			return
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
				metrics[vs.Name] = true
			}
			return nil
		})
	}
	switch os.Args[1] {
	case "yaml2json":
		if err := yamlToJSON(os.Args[2], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "rules":
		for _, f := range os.Args[2:] {
			groups, errs := rulefmt.ParseFile(f, false)
			for _, err := range errs {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", f, err))
			}
			if groups == nil {
				continue
			}
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					name := r.Alert + r.Record
					addExpr(f+": "+name, r.Expr)
				}
			}
		}
	case "exprs":
		var exprs []string
		if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i, e := range exprs {
			addExpr(fmt.Sprintf("expression %d", i+1), e)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	for m := range metrics {
		rep.Metrics = append(rep.Metrics, m)
	}
	sort.Strings(rep.Metrics)
	json.NewEncoder(os.Stdout).Encode(rep)
	if len(rep.Errors) > 0 {
		os.Exit(1)
	}
}

// yamlToJSON writes every YAML document of file (skipping empty ones) as one JSON array.
func yamlToJSON(file string, w io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	docs := []any{}
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return json.NewEncoder(w).Encode(docs)
}
