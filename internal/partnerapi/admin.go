package partnerapi

import (
	"errors"
	"net/http"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/partners"
)

// RegisterAdmin adds token and login-link issuance to the admin listener:
// POST /admin/v1/partners/{id}/tokens, DELETE /admin/v1/tokens/{token_id},
// POST /admin/v1/partners/{id}/login-links. Only registered partners get credentials.
func (a *Auth) RegisterAdmin(s *admin.Server, reg *partners.Registry) {
	known := func(w http.ResponseWriter, r *http.Request) (string, bool) {
		id := r.PathValue("id")
		_, err := reg.Get(r.Context(), id)
		switch {
		case errors.Is(err, partners.ErrNotFound):
			admin.Error(w, http.StatusNotFound, "partner not found")
			return "", false
		case err != nil:
			admin.Error(w, http.StatusServiceUnavailable, "cannot read partner")
			return "", false
		}
		return id, true
	}
	s.Handle("POST /admin/v1/partners/{id}/tokens", func(w http.ResponseWriter, r *http.Request) {
		if id, ok := known(w, r); ok {
			admin.WriteJSON(w, http.StatusCreated, a.IssueToken(id))
		}
	})
	s.Handle("DELETE /admin/v1/tokens/{token_id}", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Revoke(r.Context(), r.PathValue("token_id")); err != nil {
			if errors.Is(err, errMalformed) {
				admin.Error(w, http.StatusBadRequest, "malformed token id")
				return
			}
			admin.Error(w, http.StatusServiceUnavailable, "cannot revoke token")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.Handle("POST /admin/v1/partners/{id}/login-links", func(w http.ResponseWriter, r *http.Request) {
		if id, ok := known(w, r); ok {
			admin.WriteJSON(w, http.StatusCreated, map[string]string{"partner_id": id, "url": a.LoginLink(id)})
		}
	})
}
