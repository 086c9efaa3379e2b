package widget

import (
	"errors"
	"io"
	"net/http"

	"github.com/refedge/refedge/internal/admin"
)

// kworkBody is the admin API's kwork document. image and image_url are the same field
// (the admin API calls it image; events call it image_url); refedge keeps it for reference
// and never fetches it. Thumbnails come from PUT .../image.
type kworkBody struct {
	Title    string  `json:"title"`
	Category flexID  `json:"category"`
	Price    int64   `json:"price"`
	Currency string  `json:"currency"`
	URL      string  `json:"url"`
	Image    string  `json:"image"`
	ImageURL string  `json:"image_url"`
	SellerID flexID  `json:"seller_id"`
	Rating   float64 `json:"rating"`
	Status   Status  `json:"status"`
}

// RegisterAdmin adds the catalog's admin endpoints (for setups without Kafka, and for
// images):
//
//	PUT /admin/v1/kworks/{id}        JSON kwork; status defaults to active
//	GET /admin/v1/kworks/{id}
//	PUT /admin/v1/kworks/{id}/image  JPEG or PNG body
func (s *Service) RegisterAdmin(a *admin.Server) {
	a.Handle("PUT /admin/v1/kworks/{id}", s.adminPut)
	a.Handle("GET /admin/v1/kworks/{id}", s.adminGet)
	a.Handle("PUT /admin/v1/kworks/{id}/image", s.adminImage)
}

func (s *Service) adminPut(w http.ResponseWriter, r *http.Request) {
	var b kworkBody
	if !admin.DecodeJSON(w, r, &b) {
		return
	}
	img := b.ImageURL
	if img == "" {
		img = b.Image
	}
	k := Kwork{ID: r.PathValue("id"), SellerID: string(b.SellerID), Title: b.Title, Category: string(b.Category),
		Price: b.Price, Currency: b.Currency, URL: b.URL, ImageURL: img, Rating: b.Rating, Status: b.Status,
		UpdatedMs: s.catalog.Now().UnixMilli()}
	if err := k.Validate(s.catalog.origin); err != nil {
		admin.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var before any
	if old, err := s.catalog.Get(r.Context(), k.ID); err == nil {
		before = old
	}
	admin.AuditChange(r, "kwork:"+k.ID, before, k)
	if _, err := s.catalog.Put(r.Context(), k); err != nil {
		s.cfg.Log.Warn("admin: cannot store kwork", "kwork", k.ID, "err", err)
		admin.Error(w, http.StatusServiceUnavailable, "cannot store kwork")
		return
	}
	s.adminGet(w, r)
}

func (s *Service) adminGet(w http.ResponseWriter, r *http.Request) {
	k, err := s.catalog.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrKworkNotFound):
		admin.Error(w, http.StatusNotFound, "kwork not found")
	case err != nil:
		admin.Error(w, http.StatusServiceUnavailable, "cannot read kwork")
	default:
		admin.WriteJSON(w, http.StatusOK, k)
	}
}

func (s *Service) adminImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validKworkID(id) {
		admin.Error(w, http.StatusNotFound, "kwork not found")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.Images.MaxBytes)))
	if err != nil {
		admin.Error(w, http.StatusRequestEntityTooLarge, ErrImageTooLarge.Error())
		return
	}
	norm, ver, err := normalizeImage(data, s.cfg.Images)
	switch {
	case errors.Is(err, ErrImageTooLarge):
		admin.Error(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	case errors.Is(err, ErrImageFormat):
		admin.Error(w, http.StatusUnsupportedMediaType, err.Error())
		return
	case errors.Is(err, ErrImageDimensions):
		admin.Error(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		admin.Error(w, http.StatusInternalServerError, "cannot process image")
		return
	}
	admin.AuditChange(r, "kwork:"+id, nil, map[string]any{"image": ver, "bytes": len(norm)})
	if err := s.catalog.SetImage(r.Context(), id, norm, ver); err != nil {
		if errors.Is(err, ErrKworkNotFound) {
			admin.Error(w, http.StatusNotFound, "kwork not found; PUT the kwork first")
			return
		}
		s.cfg.Log.Warn("admin: cannot store kwork image", "kwork", id, "err", err)
		admin.Error(w, http.StatusServiceUnavailable, "cannot store image")
		return
	}
	admin.WriteJSON(w, http.StatusOK, map[string]any{"kwork_id": id, "image": ver, "bytes": len(norm)})
}
