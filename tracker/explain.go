package tracker

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
)

// ClassifyRequest describes a click for support staff: what URL was opened, with which
// headers, from which address, and optionally what the shared state would say.
type ClassifyRequest struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	IP      string            `json:"ip"`
	TLS     *bool             `json:"tls"`
	// Duplicate and RateLimited let staff ask "what if"; the live windows are not
	// touched by a classification.
	Duplicate   bool `json:"duplicate"`
	RateLimited bool `json:"rate_limited"`
}

// ClassifyResponse is the verdict with every reason.
type ClassifyResponse struct {
	Verdict   string   `json:"verdict"`
	Reasons   []string `json:"reasons"`
	PartnerID string   `json:"partner_id"`
}

// Explain classifies a described request with the same pipeline as live clicks. It
// reads the partner's standing from reg and changes nothing.
func (e *Edge) Explain(ctx context.Context, req ClassifyRequest, reg *partners.Registry) (ClassifyResponse, error) {
	u, err := url.Parse(req.URL)
	if err != nil || u.RawQuery == "" && !strings.Contains(req.URL, "ref=") {
		return ClassifyResponse{}, errors.New("url must be a referral URL with ref=")
	}
	h := http.Header{}
	for k, v := range req.Headers {
		h.Set(k, v)
	}
	s := &Signals{
		UserAgent: []byte(h.Get("User-Agent")), Accept: []byte(h.Get("Accept")), AcceptLanguage: []byte(h.Get("Accept-Language")),
		Referer: []byte(h.Get("Referer")), SecFetchDest: []byte(h.Get("Sec-Fetch-Dest")), SecFetchMode: []byte(h.Get("Sec-Fetch-Mode")),
		SecFetchSite: []byte(h.Get("Sec-Fetch-Site")), SecFetchUser: []byte(h.Get("Sec-Fetch-User")), SecPurpose: []byte(h.Get("Sec-Purpose")),
		Purpose: []byte(h.Get("Purpose")), SecCHUA: []byte(h.Get("Sec-CH-UA")), RawQuery: []byte(u.RawQuery),
		Head: strings.EqualFold(req.Method, "HEAD"), TLS: u.Scheme == "https",
	}
	if req.TLS != nil {
		s.TLS = *req.TLS
	}
	if ip, err := netip.ParseAddr(req.IP); err == nil {
		s.IP = ip
	}
	ref := u.Query().Get("ref")
	s.PartnerValid = refcookie.ValidPartnerID([]byte(ref))
	if s.PartnerValid && reg != nil {
		p, err := reg.Get(ctx, ref)
		switch {
		case errors.Is(err, partners.ErrNotFound):
		case err != nil:
			s.State.Degraded = true
		default:
			s.State.Partner = standing(string(p.Status), strconv.FormatBool(p.EmailConfirmed))
		}
	}
	s.State.Duplicate, s.State.IPLimited = req.Duplicate, req.RateLimited
	c := event.AcquireClick()
	defer event.ReleaseClick(c)
	var d Decision
	v := e.classifier.Classify(s, c, &d)
	return ClassifyResponse{Verdict: v.String(), Reasons: c.Reasons(), PartnerID: ref}, nil
}

// RegisterAdmin adds POST /admin/v1/classify to the admin listener.
func (e *Edge) RegisterAdmin(s *admin.Server, reg *partners.Registry) {
	s.Handle("POST /admin/v1/classify", func(w http.ResponseWriter, r *http.Request) {
		var req ClassifyRequest
		if !admin.DecodeJSON(w, r, &req) {
			return
		}
		resp, err := e.Explain(r.Context(), req, reg)
		if err != nil {
			admin.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		admin.WriteJSON(w, http.StatusOK, resp)
	})
}
