package banners

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/refedge/refedge/internal/admin"
)

// RegisterAdmin adds the creative API to the internal listener:
//
//	GET    /admin/v1/creatives                      list creatives, versions and banner URLs
//	PUT    /admin/v1/creatives/{id}                 the body (PNG or JPEG) becomes the creative's only master
//	PUT    /admin/v1/creatives/{id}/masters/{name}  add or replace one master (e.g. wide, tall)
//	DELETE /admin/v1/creatives/{id}                 remove an uploaded or folder creative
//
// PUT takes the raw image as the body and optional query parameters fx, fy (focal
// point), safe=x0,y0,x1,y1 (the message's rectangle), bg=#rrggbb (padding) and alt.
// It answers once every size is rendered. Nothing is ever fetched from a URL.
func (s *Service) RegisterAdmin(a *admin.Server) {
	a.Handle("GET /admin/v1/creatives", s.adminList)
	a.Handle("PUT /admin/v1/creatives/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.adminUpload(w, r, r.PathValue("id"), "master", true)
	})
	a.Handle("PUT /admin/v1/creatives/{id}/masters/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.adminUpload(w, r, r.PathValue("id"), r.PathValue("name"), false)
	})
	a.Handle("DELETE /admin/v1/creatives/{id}", s.adminDelete)
}

func (s *Service) adminList(w http.ResponseWriter, _ *http.Request) {
	sn := s.snap.Load()
	out := make([]creativeInfo, 0, len(sn.ordered))
	for _, e := range sn.ordered {
		out = append(out, s.describe(e))
	}
	admin.WriteJSON(w, http.StatusOK, map[string]any{"creatives": out})
}

func (s *Service) adminUpload(w http.ResponseWriter, r *http.Request, id, name string, replace bool) {
	e, status, err := s.upload(w, r, id, name, replace)
	if err != nil {
		uploadsVec.WithLabelValues(strconv.Itoa(status)).Inc()
		if status >= 500 {
			s.log.Error("creative upload failed", "creative", id, "err", err)
		}
		admin.Error(w, status, err.Error())
		return
	}
	uploadsVec.WithLabelValues("ok").Inc()
	// The entry this upload installed: a concurrent DELETE may already have taken it
	// out of the current snapshot.
	after := s.describe(e)
	admin.AuditChange(r, "creative:"+id, nil, after)
	admin.WriteJSON(w, status, after)
}

// upload checks, stores and renders one master; it returns the entry it installed and
// the status to answer.
func (s *Service) upload(w http.ResponseWriter, r *http.Request, id, name string, replace bool) (*entry, int, error) {
	if !ValidCreativeID(id) {
		return nil, http.StatusBadRequest, errors.New("creative id must match [a-z0-9_-]{1,48}")
	}
	if !validMasterName(name) {
		return nil, http.StatusBadRequest, errors.New("master name must match [a-z0-9_-]{1,32}")
	}
	frame, alt, err := parseUploadQuery(r.URL.Query())
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	data, format, err := readUpload(w, r, s.lim)
	if err != nil {
		return nil, inputStatus(err), err
	}
	if err := s.acquire(); err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	img, err := decodeMaster(data, s.lim)
	s.release()
	if err != nil {
		return nil, inputStatus(err), err
	}

	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	old := s.snap.Load().byID[id]
	c := &Creative{ID: id, Alt: alt, Origin: "upload"}
	var masters []*Master
	if old != nil && old.c.Origin != "builtin" {
		// A built-in creative is replaced whole: its generated masters are not files.
		if c.Alt == "" {
			c.Alt = old.c.Alt
		}
		if !replace {
			for _, m := range old.c.Masters {
				if m.Name != name {
					masters = append(masters, m)
				}
			}
		}
	}
	if c.Alt == "" {
		c.Alt = id
	}
	mw, mh := img.Bounds().Dx(), img.Bounds().Dy()
	m := s.memoryMaster(data, name, mw, mh, frame)
	c.Masters = sortedMasters(append(masters, m))
	if s.cfg.MasterDir != "" {
		path, err := s.saveMaster(c, name, format, data, replace || old == nil || old.c.Origin == "builtin")
		if err != nil {
			return nil, http.StatusInternalServerError, fmt.Errorf("cannot store the master: %w", err)
		}
		// Renders read the file again; the upload's bytes can go.
		*m = *s.fileMaster(path, name, mw, mh, frame, m.Hash)
	}
	e := s.install(c)
	if err := s.acquire(); err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	s.warmMaster(e, indexOf(c.Masters, m), img)
	s.release()
	s.warm(e) // the creative's other masters: its version, hence its cache, changed
	for si := range Sizes {
		if e.out[si].Load() == nil {
			return nil, http.StatusInternalServerError, fmt.Errorf("size %s could not be rendered; see the log", Sizes[si])
		}
	}
	if old == nil {
		return e, http.StatusCreated, nil
	}
	return e, http.StatusOK, nil
}

func indexOf(ms []*Master, m *Master) int {
	for i, x := range ms {
		if x == m {
			return i
		}
	}
	return -1
}

func inputStatus(err error) int {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Status
	}
	return http.StatusBadRequest
}

func (s *Service) adminDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	e := s.snap.Load().byID[id]
	switch {
	case e == nil:
		admin.Error(w, http.StatusNotFound, "no such creative")
		return
	case e.c.Origin == "builtin":
		admin.Error(w, http.StatusConflict, "built-in creatives are turned off with REFEDGE_BANNERS_BUILTIN=0, or replaced by uploading a creative with the same id")
		return
	}
	admin.AuditChange(r, "creative:"+id, s.describe(e), nil)
	if err := s.deleteDir(id); err != nil {
		s.log.Error("cannot delete creative folder", "creative", id, "err", err)
		admin.Error(w, http.StatusInternalServerError, "cannot delete the creative's masters")
		return
	}
	s.remove(id)
	if s.cfg.Builtin {
		// The built-in creative of that id comes back, as it would at the next start.
		for _, c := range builtinCreatives() {
			if c.ID == id {
				s.warm(s.install(c))
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseUploadQuery reads fx, fy, safe, bg and alt.
func parseUploadQuery(q url.Values) (Frame, string, error) {
	f := DefaultFrame()
	var errs []error
	num := func(key string, dst *float64) {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not a number", key))
			}
			*dst = n
		}
	}
	num("fx", &f.Focal[0])
	num("fy", &f.Focal[1])
	if v := q.Get("safe"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			errs = append(errs, errors.New("safe: want x0,y0,x1,y1"))
		} else {
			for i, p := range parts {
				n, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
				if err != nil {
					errs = append(errs, errors.New("safe: want four numbers"))
					break
				}
				f.Safe[i] = n
			}
		}
	}
	f.Background = q.Get("bg")
	if len(errs) == 0 {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	alt := strings.TrimSpace(q.Get("alt"))
	if len(alt) > 200 || strings.IndexFunc(alt, unicode.IsControl) >= 0 {
		errs = append(errs, errors.New("alt: at most 200 characters, no control characters"))
	}
	return f, alt, errors.Join(errs...)
}

// headBytes is how much of an upload is read before its header is judged.
const headBytes = 64 << 10

// readUpload reads a master from the request body without trusting it: a declared
// length over the limit is refused before reading; the format and the header's
// dimensions are judged from the first 64 KiB, so a decompression bomb or a GIF is
// refused before the rest is read; and the body is never read past the limit.
func readUpload(w http.ResponseWriter, r *http.Request, lim limits) ([]byte, string, error) {
	if r.ContentLength > lim.bytes {
		return nil, "", refuse(http.StatusRequestEntityTooLarge, "body is %d bytes: the limit is %d", r.ContentLength, lim.bytes)
	}
	body := http.MaxBytesReader(w, r.Body, lim.bytes)
	size := int64(headBytes)
	if r.ContentLength > 0 {
		size = r.ContentLength
	}
	// One spare byte, so a body of exactly the declared length ends in EOF, not a full buffer.
	buf := make([]byte, 0, max(min(size, lim.bytes), headBytes)+1)
	n, err := io.ReadFull(body, buf[:headBytes])
	buf = buf[:n]
	whole := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !whole {
		return nil, "", readError(err, lim)
	}
	format, ierr := sniff(buf)
	if ierr != nil {
		return nil, "", ierr
	}
	// A header that does not parse within 64 KiB (a JPEG with large metadata before its
	// frame header) is judged again, before decoding, once the whole body is read.
	var ie *InputError
	if _, _, err := checkHeader(format, bytes.NewReader(buf), lim); err != nil &&
		(whole || errors.As(err, &ie) && ie.Status != http.StatusBadRequest) {
		return nil, "", err
	}
	if whole {
		return buf, format, nil
	}
	data, err := readRest(buf, body)
	if err != nil {
		return nil, "", readError(err, lim)
	}
	return data, format, nil
}

// readRest reads r to its end after head: into head's spare capacity first (sized from
// Content-Length when there was one), then, for a body of unknown length, in 1 MiB
// chunks joined once, so the body costs about twice its size in allocations at most.
func readRest(head []byte, r io.Reader) ([]byte, error) {
	for len(head) < cap(head) {
		n, err := r.Read(head[len(head):cap(head)])
		head = head[:len(head)+n]
		if errors.Is(err, io.EOF) {
			return head, nil
		}
		if err != nil {
			return nil, err
		}
	}
	chunks := [][]byte{head}
	total := len(head)
	for {
		c := make([]byte, 1<<20)
		n, err := io.ReadFull(r, c)
		chunks = append(chunks, c[:n])
		total += n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

func readError(err error, lim limits) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return refuse(http.StatusRequestEntityTooLarge, "body is larger than the limit of %d bytes", lim.bytes)
	}
	return refuse(http.StatusBadRequest, "cannot read the body: %v", err)
}
