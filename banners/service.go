package banners

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/refedge/refedge/attribution/event"
)

// Service renders, caches and serves banners, and records their impressions.
type Service struct {
	cfg Config
	lim limits
	log *slog.Logger

	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises swaps of the creative set
	// uploadMu serialises admin changes, so two uploads to one creative cannot lose a master.
	uploadMu sync.Mutex

	sf  singleflight.Group
	sem chan struct{} // bounds concurrent decodes and renders

	imp *impressions

	// Cache-Control values, built once.
	ccImmutable, ccShort, ccRef []byte

	stop   chan struct{}
	warmWG sync.WaitGroup
}

// snapshot is an immutable view of the creative set; changes swap in a new one.
type snapshot struct {
	byID    map[string]*entry
	ordered []*entry // by id
}

// entry is a creative at one version, with its rendered sizes.
type entry struct {
	c       *Creative
	version string
	// idB and versionB are c.ID and version as bytes, for events.
	idB, versionB []byte
	pick          [numSizes]int // index into c.Masters per size
	out           [numSizes]atomic.Pointer[rendered]
}

// rendered is one banner ready to serve; never modified after it is stored.
type rendered struct {
	body []byte
	etag []byte // strong, quoted: a hash of body
}

func newRendered(body []byte) *rendered {
	sum := sha256.Sum256(body)
	etag := make([]byte, 0, 24)
	etag = append(etag, '"')
	etag = base64.RawURLEncoding.AppendEncode(etag, sum[:16])
	etag = append(etag, '"')
	return &rendered{body: body, etag: etag}
}

// New validates cfg, loads the built-in and folder creatives with whatever the disk
// cache already holds, and starts rendering the missing sizes in the background.
// Impressions go to q; a nil q records none.
func New(cfg Config, q event.ImpressionQueue) (*Service, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:         cfg,
		lim:         limits{bytes: cfg.MaxUploadBytes, pixels: cfg.MaxPixels, side: cfg.MaxSide},
		log:         cfg.Logger.With("component", "banners"),
		sem:         make(chan struct{}, cfg.RenderWorkers),
		stop:        make(chan struct{}),
		ccImmutable: []byte("public, max-age=31536000, immutable"),
		ccShort:     []byte("public, max-age=" + strconv.Itoa(int(cfg.UnversionedMaxAge/time.Second))),
		ccRef:       []byte("private, max-age=" + strconv.Itoa(int(cfg.DedupWindow/time.Second))),
	}
	s.snap.Store(&snapshot{byID: map[string]*entry{}})
	for _, dir := range []string{cfg.MasterDir, cfg.CacheDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("banners: cannot create %s: %w", dir, err)
			}
		}
	}
	var creatives []*Creative
	if cfg.Builtin {
		creatives = builtinCreatives()
	}
	if cfg.MasterDir != "" {
		fromDir, err := s.loadDir()
		if err != nil {
			return nil, err
		}
		creatives = mergeCreatives(creatives, fromDir)
	}
	var entries []*entry
	for _, c := range creatives {
		entries = append(entries, s.install(c))
	}
	if q != nil {
		s.imp = newImpressions(&s.cfg, q)
	}
	s.warmWG.Add(1)
	go func() {
		defer s.warmWG.Done()
		for _, e := range entries {
			s.warm(e)
		}
	}()
	return s, nil
}

// Close stops background rendering and hands every impression already taken to the
// queue. Call it after the public listener has stopped and before the impression
// pipeline stops.
func (s *Service) Close(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	done := make(chan struct{})
	go func() {
		s.warmWG.Wait()
		if s.imp != nil {
			s.imp.close()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("banners: close: %w", ctx.Err())
	}
}

// WaitWarm blocks until every size of every creative known at start-up is rendered
// (or failed), or ctx ends.
func (s *Service) WaitWarm(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.warmWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// install makes c current at its version, with the sizes the disk cache holds.
func (s *Service) install(c *Creative) *entry {
	e := &entry{c: c, version: c.version(s.cfg.Quality, s.cfg.Sharpen), pick: pickMaster(c.Masters)}
	e.idB, e.versionB = []byte(c.ID), []byte(e.version)
	s.loadCached(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	next := &snapshot{byID: make(map[string]*entry, len(old.byID)+1)}
	for id, x := range old.byID {
		next.byID[id] = x
	}
	next.byID[c.ID] = e
	next.sort()
	s.snap.Store(next)
	s.pruneCache(c.ID, e.version)
	return e
}

// remove drops creative id; it reports whether it existed.
func (s *Service) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if old.byID[id] == nil {
		return false
	}
	next := &snapshot{byID: make(map[string]*entry, len(old.byID))}
	for k, x := range old.byID {
		if k != id {
			next.byID[k] = x
		}
	}
	next.sort()
	s.snap.Store(next)
	s.pruneCache(id, "")
	return true
}

func (sn *snapshot) sort() {
	sn.ordered = sn.ordered[:0]
	for _, e := range sn.byID {
		sn.ordered = append(sn.ordered, e)
	}
	sort.Slice(sn.ordered, func(i, j int) bool { return sn.ordered[i].c.ID < sn.ordered[j].c.ID })
}

// mergeCreatives returns base with every creative of over added, replacing same ids.
func mergeCreatives(base, over []*Creative) []*Creative {
	byID := map[string]int{}
	for i, c := range base {
		byID[c.ID] = i
	}
	for _, c := range over {
		if i, ok := byID[c.ID]; ok {
			base[i] = c
			continue
		}
		byID[c.ID] = len(base)
		base = append(base, c)
	}
	return base
}

// errStopped is returned for renders asked for after Close.
var errStopped = errors.New("banners: service stopped")

// banner returns size si of e, rendering it if no one has yet. Concurrent callers for
// the same cold size wait on one render.
func (s *Service) banner(e *entry, si int) (*rendered, error) {
	if r := e.out[si].Load(); r != nil {
		return r, nil
	}
	key := e.c.ID + "/" + e.version + "/" + Sizes[si].String()
	v, err, _ := s.sf.Do(key, func() (any, error) {
		if r := e.out[si].Load(); r != nil {
			return r, nil
		}
		m := e.c.Masters[e.pick[si]]
		if err := s.acquire(); err != nil {
			return nil, err
		}
		defer s.release()
		img, err := m.open()
		if err != nil {
			return nil, fmt.Errorf("cannot open master %s/%s: %w", e.c.ID, m.Name, err)
		}
		return s.renderSize(e, si, img)
	})
	if err != nil {
		return nil, err
	}
	return v.(*rendered), nil
}

func (s *Service) acquire() error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-s.stop:
		return errStopped
	}
}

func (s *Service) release() { <-s.sem }

// warm renders every size of e the cache lacks, decoding each master once.
func (s *Service) warm(e *entry) {
	for mi, m := range e.c.Masters {
		if len(s.missing(e, mi)) == 0 {
			continue
		}
		if err := s.acquire(); err != nil {
			return
		}
		img, err := m.open()
		if err != nil {
			renderErrors.Inc()
			s.log.Error("cannot open master", "creative", e.c.ID, "master", m.Name, "err", err)
		} else {
			s.warmMaster(e, mi, img)
		}
		s.release()
	}
}

// missing lists the sizes of e rendered from master mi that are not rendered yet.
func (s *Service) missing(e *entry, mi int) []int {
	var out []int
	for si := range Sizes {
		if e.pick[si] == mi && e.out[si].Load() == nil {
			out = append(out, si)
		}
	}
	return out
}

// warmMaster renders the missing sizes of master mi from its decoded image. A request
// for one of them meanwhile waits on the same single flight instead of rendering again.
// The caller holds a render slot.
func (s *Service) warmMaster(e *entry, mi int, img image.Image) {
	for _, si := range s.missing(e, mi) {
		key := e.c.ID + "/" + e.version + "/" + Sizes[si].String()
		_, err, _ := s.sf.Do(key, func() (any, error) {
			if r := e.out[si].Load(); r != nil {
				return r, nil
			}
			return s.renderSize(e, si, img)
		})
		if err != nil {
			s.log.Error("cannot render banner", "creative", e.c.ID, "size", Sizes[si].String(), "err", err)
		}
	}
}

// renderSize renders size si of e from the decoded master, keeps it in memory and
// writes it to the disk cache.
func (s *Service) renderSize(e *entry, si int, img image.Image) (*rendered, error) {
	m := e.c.Masters[e.pick[si]]
	start := time.Now()
	body, err := render(img, &m.Frame, Sizes[si], s.cfg.Quality, s.cfg.Sharpen)
	if err != nil {
		renderErrors.Inc()
		return nil, fmt.Errorf("creative %s master %s: %w", e.c.ID, m.Name, err)
	}
	renderSeconds.Observe(time.Since(start).Seconds())
	r := newRendered(body)
	e.out[si].Store(r)
	s.storeCached(e, si, body)
	return r, nil
}
