package partners

import (
	"errors"
	"net/http"
	"time"

	"github.com/refedge/refedge/internal/admin"
)

// RegisterAdmin adds PUT and GET /admin/v1/partners/{id} to the admin listener, for
// setups that do not feed partners through Kafka.
func (r *Registry) RegisterAdmin(s *admin.Server) {
	s.Handle("PUT /admin/v1/partners/{id}", func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Status         Status `json:"status"`
			UserID         string `json:"user_id"`
			EmailConfirmed bool   `json:"email_confirmed"`
		}
		if !admin.DecodeJSON(w, req, &body) {
			return
		}
		p := Partner{ID: req.PathValue("id"), UserID: body.UserID, Status: body.Status,
			EmailConfirmed: body.EmailConfirmed, UpdatedAt: time.Now().UTC()}
		if err := p.Validate(); err != nil {
			admin.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := r.Upsert(req.Context(), p); err != nil {
			admin.Error(w, http.StatusServiceUnavailable, "cannot store partner")
			return
		}
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
