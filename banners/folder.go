package banners

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The masters folder (REFEDGE_BANNERS_DIR) holds one folder per creative:
//
//	creatives/
//	  spring-sale/
//	    master.jpg        any number of PNG or JPEG masters, named [a-z0-9_-]{1,32}
//	    wide.png
//	    creative.json     optional: {"alt": "...", "masters": {"wide": {"focal": [0.3, 0.5],
//	                      "safe": [0.05, 0.1, 0.95, 0.9], "background": "#112233"}}}
//
// Files are checked like uploads (format by magic bytes, size and pixel limits from the
// header, then a full decode). A bad file is logged and skipped; it never stops the
// process. Admin uploads write into the same layout, so they survive restarts.

const metaFile = "creative.json"

// creativeMeta is creative.json.
type creativeMeta struct {
	Alt     string           `json:"alt,omitempty"`
	Masters map[string]Frame `json:"masters,omitempty"`
}

// validMasterName reports whether name matches [a-z0-9_-]{1,32}.
func validMasterName(name string) bool {
	return len(name) <= 32 && ValidCreativeID(name)
}

// loadDir loads every creative folder under MasterDir.
func (s *Service) loadDir() ([]*Creative, error) {
	ents, err := os.ReadDir(s.cfg.MasterDir)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_BANNERS_DIR: cannot read %s: %w", s.cfg.MasterDir, err)
	}
	var out []*Creative
	for _, de := range ents {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if !ValidCreativeID(de.Name()) {
			s.log.Warn("skipping a masters folder whose name is not a creative id ([a-z0-9_-]{1,48})", "folder", de.Name())
			continue
		}
		c, err := s.loadCreativeDir(de.Name())
		if err != nil {
			s.log.Error("skipping creative", "creative", de.Name(), "err", err)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// loadCreativeDir reads one creative folder.
func (s *Service) loadCreativeDir(id string) (*Creative, error) {
	dir := filepath.Join(s.cfg.MasterDir, id)
	meta, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	c := &Creative{ID: id, Alt: meta.Alt, Origin: "folder"}
	seen := map[string]bool{}
	for _, de := range ents {
		name, ok := masterFileName(de.Name())
		if de.IsDir() || !ok {
			continue
		}
		if !validMasterName(name) || seen[name] {
			s.log.Warn("skipping master: name must be [a-z0-9_-]{1,32} and unique", "creative", id, "file", de.Name())
			continue
		}
		frame, ok := meta.Masters[name]
		if !ok {
			frame = DefaultFrame()
		}
		m, err := s.loadMasterFile(filepath.Join(dir, de.Name()), name, frame)
		if err != nil {
			s.log.Error("skipping master", "creative", id, "file", de.Name(), "err", err)
			continue
		}
		seen[name] = true
		c.Masters = append(c.Masters, m)
	}
	if len(c.Masters) == 0 {
		return nil, errors.New("no usable PNG or JPEG master in the folder")
	}
	sortedMasters(c.Masters) // by name, as uploads are: the version must not depend on file names' order
	if c.Alt == "" {
		c.Alt = id
	}
	return c, nil
}

// masterFileName returns the master name of an image file name.
func masterFileName(file string) (string, bool) {
	ext := strings.ToLower(filepath.Ext(file))
	switch ext {
	case ".png", ".jpg", ".jpeg":
		return file[:len(file)-len(ext)], true
	}
	return "", false
}

func readMeta(dir string) (creativeMeta, error) {
	var m creativeMeta
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("%s: %w", metaFile, err)
	}
	for name, f := range m.Masters {
		if err := f.Validate(); err != nil {
			return m, fmt.Errorf("%s: master %s: %w", metaFile, name, err)
		}
	}
	return m, nil
}

// loadMasterFile checks and decodes a master file once, for its oriented size and to
// refuse a bad file now rather than at the first request.
func (s *Service) loadMasterFile(path, name string, f Frame) (*Master, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > s.lim.bytes {
		return nil, refuse(413, "file is %d bytes: the limit is %d (REFEDGE_BANNERS_MAX_UPLOAD_BYTES)", st.Size(), s.lim.bytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	img, err := decodeMaster(data, s.lim)
	s.release()
	if err != nil {
		return nil, err
	}
	return s.fileMaster(path, name, img.Bounds().Dx(), img.Bounds().Dy(), f, sha256.Sum256(data)), nil
}

// fileMaster is a master read from path when a size must be rendered. The file must
// still hash to sum: one replaced since would render under the wrong version.
func (s *Service) fileMaster(path, name string, w, h int, f Frame, sum [32]byte) *Master {
	lim := s.lim
	return &Master{
		Name: name, W: w, H: h, Frame: f, Hash: sum,
		open: func() (image.Image, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if sha256.Sum256(data) != sum {
				return nil, fmt.Errorf("%s changed on disk since it was loaded", path)
			}
			return decodeMaster(data, lim)
		},
	}
}

// memoryMaster keeps an uploaded master's bytes in memory (no MasterDir).
func (s *Service) memoryMaster(data []byte, name string, w, h int, f Frame) *Master {
	lim := s.lim
	return &Master{
		Name: name, W: w, H: h, Frame: f, Hash: sha256.Sum256(data),
		open: func() (image.Image, error) { return decodeMaster(data, lim) },
	}
}

// saveMaster writes an uploaded master and the creative's metadata into MasterDir.
// With replace, every other master of the creative is removed.
func (s *Service) saveMaster(c *Creative, name, format string, data []byte, replace bool) (string, error) {
	dir := filepath.Join(s.cfg.MasterDir, c.ID)
	ext := ".jpg"
	if format == formatPNG {
		ext = ".png"
	}
	path := filepath.Join(dir, name+ext)
	if err := writeFileAtomic(path, data); err != nil {
		return "", err
	}
	ents, _ := os.ReadDir(dir)
	for _, de := range ents {
		n, ok := masterFileName(de.Name())
		if ok && de.Name() != name+ext && (replace || n == name) {
			_ = os.Remove(filepath.Join(dir, de.Name()))
		}
	}
	meta := creativeMeta{Alt: c.Alt, Masters: map[string]Frame{}}
	for _, m := range c.Masters {
		meta.Masters[m.Name] = m.Frame
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return "", err
	}
	return path, writeFileAtomic(filepath.Join(dir, metaFile), append(b, '\n'))
}

// deleteDir removes a creative's folder from MasterDir.
func (s *Service) deleteDir(id string) error {
	if s.cfg.MasterDir == "" {
		return nil
	}
	return os.RemoveAll(filepath.Join(s.cfg.MasterDir, id))
}

// sortedMasters orders masters by name, so versions do not depend on upload order.
func sortedMasters(ms []*Master) []*Master {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}
