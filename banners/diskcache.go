package banners

import (
	"bytes"
	"errors"
	"image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
)

// The disk cache keeps every rendered size under CacheDir/{creative}/{version}/{W}x{H}.jpg.
// A version is a hash of everything that decides the pixels, so a file is never stale:
// a changed master or setting is a new folder, and the old one is pruned.

func (s *Service) cacheFile(id, version string, si int) string {
	return filepath.Join(s.cfg.CacheDir, id, version, Sizes[si].String()+".jpg")
}

// loadCached fills e with the sizes the disk cache holds. A file that does not decode
// as a JPEG of its size is removed and rendered again.
func (s *Service) loadCached(e *entry) {
	if s.cfg.CacheDir == "" {
		return
	}
	for si, size := range Sizes {
		path := s.cacheFile(e.c.ID, e.version, si)
		data, err := os.ReadFile(path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("cannot read cached banner", "path", path, "err", err)
			}
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil || img.Bounds().Dx() != size.W || img.Bounds().Dy() != size.H {
			s.log.Warn("discarding a bad cached banner", "path", path, "err", err)
			_ = os.Remove(path)
			continue
		}
		e.out[si].Store(newRendered(data))
		cacheLoaded.Inc()
	}
}

// storeCached writes one rendered size; a failure is logged and serving continues
// from memory.
func (s *Service) storeCached(e *entry, si int, body []byte) {
	if s.cfg.CacheDir == "" {
		return
	}
	path := s.cacheFile(e.c.ID, e.version, si)
	if err := writeFileAtomic(path, body); err != nil {
		cacheWriteErrors.Inc()
		s.log.Warn("cannot write cached banner", "path", path, "err", err)
	}
}

// pruneCache removes every cached version of creative id except keep ("" removes all).
func (s *Service) pruneCache(id, keep string) {
	if s.cfg.CacheDir == "" {
		return
	}
	dir := filepath.Join(s.cfg.CacheDir, id)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		if de.Name() != keep {
			_ = os.RemoveAll(filepath.Join(dir, de.Name()))
		}
	}
	if keep == "" {
		_ = os.Remove(dir)
	}
}

// writeFileAtomic writes data next to path and renames it into place, so a crash
// never leaves a half-written file under the final name.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
