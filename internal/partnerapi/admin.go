package partnerapi

import (
	"errors"
	"net/http"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/partners"
)

// RegisterAdmin adds token and login-link issuance to the admin listener:
// POST /admin/v1/partners/{id}/tokens (the value is in this answer only),
// GET /admin/v1/partners/{id}/tokens (ids, creation, expiry, last use; never values),
// DELETE /admin/v1/tokens/{token_id}, POST /admin/v1/partners/{id}/login-links. Only
// registered partners get credentials.
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
			tok := a.IssueToken(id)
			if err := a.RecordToken(r.Context(), tok); err != nil {
				// The token is not handed out: an operator could not see or list it.
				admin.Error(w, http.StatusServiceUnavailable, "cannot record token")
				return
			}
			admin.AuditPartner(r, id)
			// The value is shown once, in this answer; the trail keeps the id.
			admin.AuditChange(r, "token:"+tok.ID, nil, map[string]any{"id": tok.ID, "partner_id": id, "expires_at": tok.ExpiresAt})
			admin.WriteJSON(w, http.StatusCreated, tok)
		}
	})
	s.Handle("GET /admin/v1/partners/{id}/tokens", func(w http.ResponseWriter, r *http.Request) {
		id, ok := known(w, r)
		if !ok {
			return
		}
		toks, err := a.ListTokens(r.Context(), id)
		if err != nil {
			admin.Error(w, http.StatusServiceUnavailable, "cannot list tokens")
			return
		}
		admin.WriteJSON(w, http.StatusOK, map[string]any{"partner_id": id, "tokens": toks})
	})
	s.Handle("DELETE /admin/v1/tokens/{token_id}", func(w http.ResponseWriter, r *http.Request) {
		tid := r.PathValue("token_id")
		if isHex(tid) {
			if p := a.TokenPartner(r.Context(), tid); p != "" {
				admin.AuditPartner(r, p)
			}
		}
		admin.AuditChange(r, "token:"+tid, nil, map[string]any{"revoked": true})
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
			admin.AuditChange(r, "partner:"+id, nil, map[string]any{"login_link_issued": true})
			admin.WriteJSON(w, http.StatusCreated, map[string]string{"partner_id": id, "url": a.LoginLink(id)})
		}
	})
}
