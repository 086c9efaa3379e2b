package partners

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/refedge/refedge/internal/admin"
)

// RegisterAdmin adds PUT and GET /admin/v1/partners/{id} to the admin listener, for
// setups that do not feed partners through Kafka.
//
// PUT's email_confirmed is optional: absent, it keeps the stored value, and a partner
// created without it is confirmed (an operator creating a partner by hand vouches for
// the address). Only a confirmed partner's clicks count (program rule 1).
func (r *Registry) RegisterAdmin(s *admin.Server) {
	s.Handle("PUT /admin/v1/partners/{id}", func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Status         Status `json:"status"`
			UserID         string `json:"user_id"`
			EmailConfirmed *bool  `json:"email_confirmed"`
		}
		if !admin.DecodeJSON(w, req, &body) {
			return
		}
		p := Partner{ID: req.PathValue("id"), UserID: body.UserID, Status: body.Status, UpdatedAt: time.Now().UTC()}
		if err := p.Validate(); err != nil {
			admin.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		email := "" // keep the stored value
		if body.EmailConfirmed != nil {
			email = strconv.FormatBool(*body.EmailConfirmed)
		}
		var before any
		if old, err := r.Get(req.Context(), p.ID); err == nil {
			before = old
		}
		confirmed, err := r.upsert(req.Context(), p, email)
		if err != nil {
			admin.Error(w, http.StatusServiceUnavailable, "cannot store partner")
			return
		}
		p.EmailConfirmed = confirmed
		admin.AuditChange(req, "partner:"+p.ID, before, p)
		admin.WriteJSON(w, http.StatusOK, p)
	})
	s.Handle("GET /admin/v1/partners/{id}", func(w http.ResponseWriter, req *http.Request) {
		p, err := r.Get(req.Context(), req.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			admin.Error(w, http.StatusNotFound, "partner not found")
		case err != nil:
			admin.Error(w, http.StatusServiceUnavailable, "cannot read partner")
		default:
			admin.WriteJSON(w, http.StatusOK, p)
		}
	})
}
