package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/refedge/refedge/deploy/schemas"
)

// EventSchemas validates events against the JSON Schemas in deploy/schemas.
type EventSchemas struct {
	byType map[string]*jsonschema.Schema
}

// LoadEventSchemas compiles every embedded <type>.schema.json, asserting formats
// (date-time, uuid) as well as structure.
func LoadEventSchemas() (*EventSchemas, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files, err := fs.Glob(schemas.FS, "*.schema.json")
	if err != nil {
		return nil, err
	}
	var types []string
	for _, name := range files {
		b, err := schemas.FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(schemas.BaseURL+name, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if name != "defs.schema.json" {
			types = append(types, strings.TrimSuffix(name, ".schema.json"))
		}
	}
	s := &EventSchemas{byType: map[string]*jsonschema.Schema{}}
	for _, typ := range types {
		sch, err := c.Compile(schemas.BaseURL + typ + ".schema.json")
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", typ, err)
		}
		s.byType[typ] = sch
	}
	return s, nil
}

// Types returns the event types that have a schema.
func (s *EventSchemas) Types() []string {
	out := make([]string, 0, len(s.byType))
	for t := range s.byType {
		out = append(out, t)
	}
	return out
}

// ErrUnknownType is wrapped by Validate for a type without a schema.
var ErrUnknownType = errors.New("unknown event type")

// Validate checks raw event JSON: it parses, names a known type, and conforms to that
// type's schema. It returns the type.
func (s *EventSchemas) Validate(raw []byte) (string, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", errors.New("invalid envelope: not a JSON object")
	}
	typ, _ := obj["type"].(string)
	sch := s.byType[typ]
	if sch == nil {
		return typ, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	if err := sch.Validate(doc); err != nil {
		return typ, fmt.Errorf("schema %s: %s", typ, schemaErrorText(err))
	}
	return typ, nil
}

var schemaPrinter = message.NewPrinter(language.English)

// schemaErrorText flattens a validation error to one line naming each failing location.
func schemaErrorText(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			parts = append(parts, "/"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(schemaPrinter))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, "; ")
}
