package widget

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refedge/refedge/internal/i18n"
)

// Spec is what a partner configures for a widget.
type Spec struct {
	// Name is the partner's own label; optional.
	Name string `json:"name,omitempty"`
	// Category is the topic: kworks are drawn at random from it. Exactly one of
	// Category and KworkIDs is set.
	Category string `json:"category,omitempty"`
	// KworkIDs is an explicit list to draw from.
	KworkIDs []string `json:"kwork_ids,omitempty"`
	// Size is "WxH" in CSS pixels: a program size or a custom one within limits.
	// Default 300x250.
	Size string `json:"size"`
	// Theme is light or dark; default light.
	Theme string `json:"theme"`
	// Accent is #RRGGBB; default #1f7a4d.
	Accent string `json:"accent"`
	// Cards is how many kworks one render shows (rotating), 1..12; default 6.
	Cards int `json:"cards"`
	// RotationSeconds is how long each page of cards stays, 1..60; default 4.
	RotationSeconds int `json:"rotation_seconds"`
	// Language is en or ru; default en.
	Language string `json:"language"`

	w, h int
}

// ProgramSizes are the partner program's standard banner sizes (docs/banners.md).
var ProgramSizes = []string{"468x60", "88x31", "728x90", "120x600", "160x600", "240x400", "300x250", "336x280", "200x400", "100x100"}

// Spec defaults and bounds.
const (
	DefaultSize     = "300x250"
	DefaultAccent   = "#1f7a4d"
	DefaultCards    = 6
	DefaultRotation = 4
	MaxCards        = 12
	MaxRotation     = 60
	maxNameRunes    = 100
	maxSpecBody     = 8 << 10
)

// SpecProblem is one reason a widget spec is refused: catalogue entry Key
// (internal/i18n, "widget.spec.*") with its named arguments, so the builder can give it
// in its reader's language. Its Error, which the API answers with, is the English entry.
type SpecProblem struct {
	Key  string
	Args map[string]any
}

func (p *SpecProblem) Error() string { return i18n.For("en").T(p.Key, p.pairs()...) }

// pairs gives Args as the name, value pairs i18n.Catalogue.T takes, in a fixed order.
func (p *SpecProblem) pairs() []any {
	out := make([]any, 0, 2*len(p.Args))
	for _, k := range slices.Sorted(maps.Keys(p.Args)) {
		out = append(out, k, p.Args[k])
	}
	return out
}

// specErr is a SpecProblem with key and its arguments given as name, value pairs.
func specErr(key string, pairs ...any) error {
	p := &SpecProblem{Key: key}
	if len(pairs) > 0 {
		p.Args = make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			p.Args[pairs[i].(string)] = pairs[i+1]
		}
	}
	return p
}

// SpecProblems lists the problems err holds (errors.Join'ed SpecProblems), in order.
func SpecProblems(err error) []*SpecProblem {
	var out []*SpecProblem
	var walk func(error)
	walk = func(err error) {
		if p, ok := err.(*SpecProblem); ok {
			out = append(out, p)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

type specLimits struct {
	sizes    SizeLimits
	maxKwork int
}

// parseSpec decodes a JSON Spec (unknown fields refused), fills defaults and validates.
func parseSpec(body []byte, lim specLimits) (Spec, error) {
	var s Spec
	if len(body) > maxSpecBody {
		return s, specErr("widget.spec.too_large")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, specErr("widget.spec.json", "detail", err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return Spec{}, specErr("widget.spec.json_trailing")
	}
	return s, s.normalize(lim)
}

// specFromQuery reads a Spec from builder preview parameters.
func specFromQuery(q url.Values, lim specLimits) (Spec, error) {
	s := Spec{Category: q.Get("category"), Size: q.Get("size"), Theme: q.Get("theme"),
		Accent: q.Get("accent"), Language: q.Get("language")}
	if ids := q.Get("kwork_ids"); ids != "" {
		for _, id := range strings.Split(ids, ",") {
			if id = strings.TrimSpace(id); id != "" {
				s.KworkIDs = append(s.KworkIDs, id)
			}
		}
	}
	var errs []error
	num := func(name string, dst *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, specErr("widget.spec.number", "field", name))
			}
			*dst = n
		}
	}
	num("cards", &s.Cards)
	num("rotation_seconds", &s.RotationSeconds)
	errs = append(errs, s.normalize(lim))
	return s, errors.Join(errs...)
}

// normalize fills defaults and reports every problem at once.
func (s *Spec) normalize(lim specLimits) error {
	var errs []error
	s.Name = strings.TrimSpace(s.Name)
	if !utf8.ValidString(s.Name) || utf8.RuneCountInString(s.Name) > maxNameRunes || strings.ContainsFunc(s.Name, isControl) {
		errs = append(errs, specErr("widget.spec.name", "max", maxNameRunes))
	}
	switch {
	case s.Category != "" && len(s.KworkIDs) > 0:
		errs = append(errs, specErr("widget.spec.topic_both"))
	case s.Category == "" && len(s.KworkIDs) == 0:
		errs = append(errs, specErr("widget.spec.topic_missing"))
	case s.Category != "" && !validCategory(s.Category):
		errs = append(errs, specErr("widget.spec.category"))
	case len(s.KworkIDs) > lim.maxKwork:
		errs = append(errs, specErr("widget.spec.kwork_ids_max", "max", lim.maxKwork))
	default:
		seen := make(map[string]bool, len(s.KworkIDs))
		for _, id := range s.KworkIDs {
			if !validKworkID(id) {
				errs = append(errs, specErr("widget.spec.kwork_id"))
				break
			}
			if seen[id] {
				errs = append(errs, specErr("widget.spec.kwork_id_twice", "id", id))
				break
			}
			seen[id] = true
		}
	}
	if s.Size == "" {
		s.Size = DefaultSize
	}
	if w, h, err := parseSize(s.Size, lim.sizes); err != nil {
		errs = append(errs, err)
	} else {
		s.w, s.h = w, h
	}
	switch s.Theme {
	case "":
		s.Theme = "light"
	case "light", "dark":
	default:
		errs = append(errs, specErr("widget.spec.theme"))
	}
	if s.Accent == "" {
		s.Accent = DefaultAccent
	}
	s.Accent = strings.ToLower(s.Accent)
	if !validColor(s.Accent) {
		errs = append(errs, specErr("widget.spec.accent"))
	}
	if s.Cards == 0 {
		s.Cards = DefaultCards
	}
	if s.Cards < 1 || s.Cards > MaxCards {
		errs = append(errs, specErr("widget.spec.cards", "max", MaxCards))
	}
	if s.RotationSeconds == 0 {
		s.RotationSeconds = DefaultRotation
	}
	if s.RotationSeconds < 1 || s.RotationSeconds > MaxRotation {
		errs = append(errs, specErr("widget.spec.rotation", "max", MaxRotation))
	}
	switch s.Language {
	case "":
		s.Language = "en"
	case "en", "ru":
	default:
		errs = append(errs, specErr("widget.spec.language"))
	}
	return errors.Join(errs...)
}

// parseSize reads "WxH": a program size, or a custom size within lim.
func parseSize(v string, lim SizeLimits) (w, h int, err error) {
	bad := specErr("widget.spec.size", "sizes", strings.Join(ProgramSizes, ", "),
		"min_w", lim.MinWidth, "max_w", lim.MaxWidth, "min_h", lim.MinHeight, "max_h", lim.MaxHeight)
	ws, hs, ok := strings.Cut(v, "x")
	if !ok || !digits(ws) || !digits(hs) {
		return 0, 0, bad
	}
	w, _ = strconv.Atoi(ws)
	h, _ = strconv.Atoi(hs)
	for _, p := range ProgramSizes {
		if p == v {
			return w, h, nil
		}
	}
	if w < lim.MinWidth || w > lim.MaxWidth || h < lim.MinHeight || h > lim.MaxHeight {
		return 0, 0, bad
	}
	return w, h, nil
}

// digits accepts 1..4 ASCII digits without a leading zero.
func digits(s string) bool {
	if len(s) == 0 || len(s) > 4 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
