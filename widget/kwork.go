package widget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refedge/refedge/internal/refcookie"
)

// Status of a kwork in the marketplace. Only Active kworks are shown.
type Status string

// Kwork statuses (kwork.upserted, deploy/schemas).
const (
	StatusActive     Status = "active"
	StatusModeration Status = "moderation"
	StatusRejected   Status = "rejected"
	StatusRemoved    Status = "removed"
)

func (s Status) valid() bool {
	return s == StatusActive || s == StatusModeration || s == StatusRejected || s == StatusRemoved
}

// Kwork is one catalog entry.
type Kwork struct {
	ID       string  `json:"kwork_id"`
	SellerID string  `json:"seller_id,omitempty"`
	Title    string  `json:"title"`
	Category string  `json:"category"`
	Price    int64   `json:"price"`    // minor units of Currency
	Currency string  `json:"currency"` // ISO 4217, upper case
	URL      string  `json:"url"`      // on the marketplace origin
	ImageURL string  `json:"image_url,omitempty"`
	Rating   float64 `json:"rating"` // seller rating, 0..5
	Status   Status  `json:"status"`
	// Image is the version of the uploaded image ("" when none); thumbnails use it.
	Image string `json:"image,omitempty"`
	// UpdatedMs is the event time (Unix ms) of the last applied change.
	UpdatedMs int64 `json:"updated_ms"`
	// Path is the link path (and query) on the marketplace, derived from URL.
	Path string `json:"-"`
}

// Field limits. Titles are bounded in runes (what a card shows) and bytes.
const (
	maxTitleRunes  = 200
	maxTitleBytes  = 800
	maxCategoryLen = 64
	maxURLLen      = 1024
	maxPrice       = 1 << 50
)

// validCategory accepts 1..64 of [0-9A-Za-z_.-/]: slugs the marketplace uses, and never
// a '{' or '}' that would change a Redis Cluster hash tag.
func validCategory(s string) bool {
	if len(s) == 0 || len(s) > maxCategoryLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}

func validKworkID(s string) bool { return refcookie.ValidPartnerID([]byte(s)) }

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Validate checks k and derives Path from URL, which must be on marketOrigin.
func (k *Kwork) Validate(marketOrigin string) error {
	var errs []error
	if !validKworkID(k.ID) {
		errs = append(errs, errors.New("kwork_id must match [0-9A-Za-z_-]{1,64}"))
	}
	if k.SellerID != "" && !validKworkID(k.SellerID) {
		errs = append(errs, errors.New("seller_id must match [0-9A-Za-z_-]{1,64}"))
	}
	k.Title = strings.TrimSpace(k.Title)
	switch {
	case k.Title == "":
		errs = append(errs, errors.New("title is empty"))
	case !utf8.ValidString(k.Title) || len(k.Title) > maxTitleBytes || utf8.RuneCountInString(k.Title) > maxTitleRunes:
		errs = append(errs, fmt.Errorf("title must be valid UTF-8 of at most %d characters", maxTitleRunes))
	case strings.ContainsFunc(k.Title, isControl):
		errs = append(errs, errors.New("title contains control characters"))
	}
	if !validCategory(k.Category) {
		errs = append(errs, errors.New("category must match [0-9A-Za-z_./-]{1,64}"))
	}
	if k.Price < 0 || k.Price > maxPrice {
		errs = append(errs, errors.New("price must be a non-negative integer of minor units"))
	}
	k.Currency = strings.ToUpper(k.Currency)
	if !validCurrency(k.Currency) {
		errs = append(errs, errors.New("currency must be an ISO 4217 code"))
	}
	if math.IsNaN(k.Rating) || k.Rating < 0 || k.Rating > 5 {
		errs = append(errs, errors.New("rating must be between 0 and 5"))
	}
	if k.Status == "" {
		k.Status = StatusActive
	}
	if !k.Status.valid() {
		errs = append(errs, errors.New("status must be active, moderation, rejected or removed"))
	}
	if len(k.ImageURL) > maxURLLen {
		errs = append(errs, errors.New("image_url is too long"))
	}
	p, err := marketPath(k.URL, marketOrigin)
	if err != nil {
		errs = append(errs, err)
	}
	k.Path = p
	return errors.Join(errs...)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// marketPath checks that raw is an absolute URL on origin and returns its escaped path
// and query, without refedge's own parameters and without a fragment. Only the
// configured origin is ever a link target.
func marketPath(raw, origin string) (string, error) {
	if raw == "" {
		return "", errors.New("url is required")
	}
	if len(raw) > maxURLLen {
		return "", errors.New("url is too long")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("url is not a URL")
	}
	o, err := url.Parse(origin)
	if err != nil {
		return "", errors.New("market origin is not a URL")
	}
	if !strings.EqualFold(u.Scheme, o.Scheme) || !strings.EqualFold(u.Host, o.Host) || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("url must be on the marketplace origin %s", origin)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return "", errors.New("url path is not a plain absolute path")
	}
	if q := stripOwnParams(u.Query()); len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p, nil
}

// stripOwnParams removes refedge's query parameters; links add their own.
func stripOwnParams(q url.Values) url.Values {
	for k := range q {
		switch strings.ToLower(k) {
		case "ref", "src", "cr", "sub":
			delete(q, k)
		}
	}
	return q
}

// flexID decodes a JSON string or integer id (the core may send either).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return errors.New("id must be a string or an integer")
	}
	*f = flexID(strconv.FormatInt(n, 10))
	return nil
}
