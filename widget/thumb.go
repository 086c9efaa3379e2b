package widget

import (
	"bytes"
	"container/list"
	"errors"
	"hash/fnv"
	"image"
	"image/color"
	"strconv"
	"sync"
	"time"

	"github.com/disintegration/imaging"
	"github.com/valyala/fasthttp"
)

// thumbs renders and caches thumbnails. The source is always the catalog's own copy
// of an uploaded image, or a generated placeholder: never a fetched URL.
type thumbs struct {
	cat  *Catalog
	sem  chan struct{}
	wait time.Duration

	fmu      sync.Mutex
	inflight map[string]*thumbCall

	mu    sync.Mutex
	ll    *list.List // front = most recently used
	m     map[string]*list.Element
	size  int64
	limit int64
}

type thumbEntry struct {
	key  string
	data []byte
}

func newThumbs(cat *Catalog, limit int64, workers int, wait time.Duration) *thumbs {
	return &thumbs{cat: cat, sem: make(chan struct{}, workers), wait: wait, inflight: map[string]*thumbCall{},
		ll: list.New(), m: map[string]*list.Element{}, limit: limit}
}

// thumbCall is one render that concurrent requests for the same key share.
type thumbCall struct {
	done chan struct{}
	data []byte
	err  error
}

var errThumbBusy = errors.New("every thumbnail worker is busy")

// render returns the bytes for key, rendering them with fn at most once at a time per
// key and at most len(sem) at a time overall. A request that waits longer than
// t.wait for a worker gets errThumbBusy.
func (t *thumbs) render(key string, fn func() ([]byte, error)) ([]byte, error) {
	t.fmu.Lock()
	if c, ok := t.inflight[key]; ok {
		t.fmu.Unlock()
		<-c.done
		return c.data, c.err
	}
	c := &thumbCall{done: make(chan struct{})}
	t.inflight[key] = c
	t.fmu.Unlock()
	defer func() {
		t.fmu.Lock()
		delete(t.inflight, key)
		t.fmu.Unlock()
		close(c.done)
	}()
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	select {
	case t.sem <- struct{}{}:
	case <-timer.C:
		c.err = errThumbBusy
		return nil, c.err
	}
	c.data, c.err = fn()
	<-t.sem
	if c.err == nil {
		t.put(key, c.data)
	}
	return c.data, c.err
}

func (t *thumbs) get(key string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[key]; ok {
		t.ll.MoveToFront(e)
		return e.Value.(*thumbEntry).data
	}
	return nil
}

func (t *thumbs) put(key string, data []byte) {
	n := int64(len(data) + len(key) + 64)
	if n > t.limit {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[key]; ok {
		return
	}
	t.m[key] = t.ll.PushFront(&thumbEntry{key: key, data: data})
	t.size += n
	for t.size > t.limit {
		e := t.ll.Back()
		te := e.Value.(*thumbEntry)
		t.ll.Remove(e)
		delete(t.m, te.key)
		t.size -= int64(len(te.data) + len(te.key) + 64)
	}
}

// placeholder colours: calm tones that read well behind either theme.
var placeholderColors = []color.NRGBA{
	{0x4f, 0x86, 0xc6, 255}, {0x3f, 0x9a, 0x7b, 255}, {0xc0, 0x7a, 0x3a, 255}, {0x8e, 0x6c, 0xb8, 255},
	{0xc2, 0x5b, 0x6e, 0xff}, {0x5a, 0x8f, 0x3c, 255}, {0x3b, 0x8c, 0xa8, 255}, {0x9a, 0x7d, 0x4a, 255},
}

func placeholderIndex(kwork string) int {
	h := fnv.New32a()
	h.Write([]byte(kwork))
	return int(h.Sum32() % uint32(len(placeholderColors)))
}

// renderPlaceholder draws a soft vertical gradient of colour i.
func renderPlaceholder(i, w, h int) ([]byte, error) {
	c := placeholderColors[i]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		k := 100 + 40*y/max(h-1, 1) // 100%..140% brightness, top to bottom
		row := color.NRGBA{clamp8(int(c.R) * k / 100), clamp8(int(c.G) * k / 100), clamp8(int(c.B) * k / 100), 255}
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, row)
		}
	}
	var out bytes.Buffer
	err := imaging.Encode(&out, img, imaging.JPEG, imaging.JPEGQuality(80))
	return out.Bytes(), err
}

func clamp8(v int) uint8 { return uint8(min(v, 255)) }

// renderThumb crops and resizes a stored image to exactly w x h.
func renderThumb(src []byte, w, h int) ([]byte, error) {
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	img = imaging.Fill(img, w, h, imaging.Center, imaging.Lanczos)
	var out bytes.Buffer
	err = imaging.Encode(&out, img, imaging.JPEG, imaging.JPEGQuality(82))
	return out.Bytes(), err
}

var (
	thumbHit         = thumbsTotal.WithLabelValues("hit")
	thumbRendered    = thumbsTotal.WithLabelValues("rendered")
	thumbPlaceholder = thumbsTotal.WithLabelValues("placeholder")
	thumbBusy        = thumbsTotal.WithLabelValues("busy")
	thumbNotFound    = thumbsTotal.WithLabelValues("not_found")
	thumbError       = thumbsTotal.WithLabelValues("error")
)

// validVersion accepts an image version (12 hex digits) or "0" (no image).
func validVersion(v []byte) bool {
	if string(v) == "0" {
		return true
	}
	if len(v) != 12 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// serveThumb answers /w/t/{kwork}/{W}x{H}.jpg?v={version}. A URL naming the current
// version is immutable; any other answers the current image with a short lifetime.
func (s *Service) serveThumb(ctx *fasthttp.RequestCtx, t target) {
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	want := ctx.QueryArgs().Peek("v")
	if !validVersion(want) {
		want = nil
	}
	size := strconv.Itoa(t.w) + "x" + strconv.Itoa(t.h)
	if want != nil {
		if b := s.thumbs.get(t.id + "/" + string(want) + "/" + size); b != nil {
			thumbHit.Inc()
			writeThumb(ctx, b, true)
			return
		}
	}
	ver, src, err := s.catalog.Image(bg, t.id)
	switch {
	case errors.Is(err, ErrKworkNotFound):
		thumbNotFound.Inc()
		notFound(ctx)
		return
	case err != nil:
		thumbError.Inc()
		s.cfg.Log.Warn("widget thumbnail: cannot read image", "kwork", t.id, "err", err)
		h.Set("Retry-After", "5")
		ctx.Error("temporarily unavailable", fasthttp.StatusServiceUnavailable)
		return
	}
	if ver == "" {
		ver = "0"
	}
	current := string(want) == ver
	key := t.id + "/" + ver + "/" + size
	if ver == "0" {
		key = "p" + strconv.Itoa(placeholderIndex(t.id)) + "/" + size // shared by every kwork of that colour
	}
	if b := s.thumbs.get(key); b != nil {
		thumbHit.Inc()
		writeThumb(ctx, b, current)
		return
	}
	b, err := s.thumbs.render(key, func() ([]byte, error) {
		if ver == "0" {
			thumbPlaceholder.Inc()
			return renderPlaceholder(placeholderIndex(t.id), t.w, t.h)
		}
		thumbRendered.Inc()
		return renderThumb(src, t.w, t.h)
	})
	switch {
	case errors.Is(err, errThumbBusy):
		// Every worker stayed busy: answer at once rather than queue more CPU work.
		thumbBusy.Inc()
		h.Set("Retry-After", "1")
		ctx.Error("busy", fasthttp.StatusServiceUnavailable)
		return
	case err != nil:
		thumbError.Inc()
		s.cfg.Log.Warn("widget thumbnail: cannot render", "kwork", t.id, "err", err)
		ctx.Error("cannot render thumbnail", fasthttp.StatusInternalServerError)
		return
	}
	writeThumb(ctx, b, current)
}

func writeThumb(ctx *fasthttp.RequestCtx, b []byte, immutable bool) {
	if immutable {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=300")
	}
	ctx.SetContentType("image/jpeg")
	ctx.SetBody(b)
}
