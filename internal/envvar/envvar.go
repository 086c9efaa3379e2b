// Package envvar declares configuration variables as data. Each package that reads
// REFEDGE_* variables exports a Table of typed descriptors (name, default, help and a
// setter into its Config); the same table loads the variables and writes --help, so the
// two cannot drift apart. Problems are collected with errors.Join, each naming its
// variable, and a value is never echoed: it may be a secret.
package envvar

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Var is one variable of a config C.
type Var[C any] struct {
	Name string
	// Default is what applies when the variable is unset or blank, as --help shows it.
	// Set receives it like a value when the table is Strict; otherwise the package's own
	// defaults apply and Default only documents them.
	Default string
	Help    string
	// Set parses v into c; its error says what is wanted, without repeating v.
	Set func(c *C, v string) error
}

// Table is the variables one part of refedge reads.
type Table[C any] struct {
	// Part names the reader in --help ("ledger", "widget", ...); "" for the process.
	Part string
	// Strict tables call Set for every variable, with the value or else Default (even
	// ""), so required variables can refuse the empty value. Other tables call Set only
	// for variables that are set.
	Strict bool
	Vars   []Var[C]
}

// Load reads every variable of t through getenv into c and returns every problem.
func (t Table[C]) Load(c *C, getenv func(string) string) error {
	var errs []error
	for _, v := range t.Vars {
		val := strings.TrimSpace(getenv(v.Name))
		if val == "" {
			if !t.Strict {
				continue
			}
			val = v.Default
		}
		if err := v.Set(c, val); err != nil {
			errs = append(errs, &Error{Name: v.Name, Err: err})
		}
	}
	return errors.Join(errs...)
}

// Error is a problem with one variable.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Names returns the variables err (from Load) reports, once each.
func Names(err error) map[string]bool {
	out := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		var e *Error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		} else if errors.As(err, &e) {
			out[e.Name] = true
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Docs returns the table as --help prints it.
func (t Table[C]) Docs() []Doc {
	out := make([]Doc, len(t.Vars))
	for i, v := range t.Vars {
		out[i] = Doc{Part: t.Part, Name: v.Name, Default: v.Default, Help: v.Help}
	}
	return out
}

// Doc is one variable as --help shows it.
type Doc struct{ Part, Name, Default, Help string }

// Help formats docs, one variable per entry, in the given order.
func Help(docs []Doc) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "  %s\n      ", d.Name)
		if d.Part != "" {
			b.WriteString(d.Part + ": ")
		}
		b.WriteString(d.Help)
		if d.Default != "" {
			fmt.Fprintf(&b, " (default %q)", d.Default)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// String stores the value as it is.
func String[C any](field func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error { *field(c) = v; return nil }
}

// Int parses a whole number from lo to hi (math.MaxInt: no upper bound).
func Int[C any](field func(*C) *int, lo, hi int) func(*C, string) error {
	return func(c *C, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			if hi == math.MaxInt {
				return fmt.Errorf("want a whole number of at least %d", lo)
			}
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// Int64 parses a whole number from lo to hi.
func Int64[C any](field func(*C) *int64, lo, hi int64) func(*C, string) error {
	return func(c *C, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// Duration parses a Go duration (2s, 1h30m) from lo to hi.
func Duration[C any](field func(*C) *time.Duration, lo, hi time.Duration) func(*C, string) error {
	return func(c *C, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("want a duration from %s to %s, such as 2s or 1h", lo, hi)
		}
		*field(c) = d
		return nil
	}
}

// Bool parses 1, 0, true or false.
func Bool[C any](field func(*C) *bool) func(*C, string) error {
	return func(c *C, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want 1 or 0")
		}
		*field(c) = b
		return nil
	}
}
