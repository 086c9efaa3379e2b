package banners

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMastersFolder(t *testing.T) {
	cfg := testConfig(t)
	cfg.Builtin = false
	cfg.CacheDir = t.TempDir()
	dir := cfg.MasterDir
	write := func(path string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := encodeJPEG(t, testMaster(450, 300), 85)
	write("promo/master.jpg", good)
	write("promo/tall.png", encodePNG(t, testMaster(100, 400)))
	write("promo/broken.jpg", good[:len(good)/3])
	write("promo/notes.txt", []byte("ignored"))
	write("promo/creative.json", []byte(`{"alt": "Promo <b>", "masters": {"tall": {"focal": [0.5, 0.2], "safe": [0.1, 0.1, 0.9, 0.5]}}}`))
	write("bomb/master.png", pngHeader(30000, 30000))
	write("Bad Name/master.jpg", good)
	write("empty/readme.md", []byte("no masters"))
	write("badmeta/master.jpg", good)
	write("badmeta/creative.json", []byte(`{"alt": "x", "masters": {"master": {"focal": [2, 0], "safe": [0, 0, 1, 1]}}}`))

	s := newService(t, cfg, nil)
	sn := s.snap.Load()
	if len(sn.ordered) != 1 || sn.ordered[0].c.ID != "promo" {
		ids := []string{}
		for _, e := range sn.ordered {
			ids = append(ids, e.c.ID)
		}
		t.Fatalf("creatives %v, want only promo (bomb, Bad Name, empty and badmeta refused)", ids)
	}
	e := sn.ordered[0]
	if e.c.Alt != "Promo <b>" || e.c.Origin != "folder" || len(e.c.Masters) != 2 {
		t.Fatalf("promo: alt %q origin %s, %d masters", e.c.Alt, e.c.Origin, len(e.c.Masters))
	}
	tall := e.c.Masters[1]
	if tall.Name != "tall" || tall.W != 100 || tall.H != 400 || tall.Focal != [2]float64{0.5, 0.2} || tall.Safe[3] != 0.5 {
		t.Fatalf("tall master %+v", tall)
	}
	for si := range Sizes {
		if e.out[si].Load() == nil {
			t.Fatalf("size %v not rendered", Sizes[si])
		}
	}
	// A master edited on disk under a running process is not rendered under the old version.
	write("promo/master.jpg", encodeJPEG(t, testMaster(450, 300), 60))
	if _, err := e.c.Masters[0].open(); err == nil {
		t.Fatal("a master changed on disk was opened under its old hash")
	}
}

func TestConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c := NewDefaultConfig()
	if err := c.LoadEnv(env("REFEDGE_BANNERS_DIR", "/srv/creatives", "REFEDGE_BANNERS_JPEG_QUALITY", "90",
		"REFEDGE_BANNERS_BUILTIN", "0", "REFEDGE_BANNERS_DEDUP_WINDOW", "30m")); err != nil {
		t.Fatal(err)
	}
	if c.MasterDir != "/srv/creatives" || c.Quality != 90 || c.Builtin || c.DedupWindow.Minutes() != 30 {
		t.Fatalf("loaded %+v", c)
	}
	err := c.LoadEnv(env("REFEDGE_BANNERS_JPEG_QUALITY", "101", "REFEDGE_BANNERS_BUILTIN", "maybe", "REFEDGE_BANNERS_MAX_PIXELS", "x"))
	for _, name := range []string{"REFEDGE_BANNERS_JPEG_QUALITY", "REFEDGE_BANNERS_BUILTIN", "REFEDGE_BANNERS_MAX_PIXELS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("LoadEnv error %v does not name %s", err, name)
		}
	}
	c = NewDefaultConfig()
	err = c.Validate()
	for _, name := range []string{"REFEDGE_PUBLIC_URL", "REFEDGE_MARKET_ORIGIN"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("Validate error %v does not name %s", err, name)
		}
	}
	c.PublicURL, c.LinkBase = "https://r.market.example", "javascript:alert(1)"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "REFEDGE_MARKET_ORIGIN") {
		t.Fatalf("a javascript: link base passed: %v", err)
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Fatal("New accepted an empty config")
	}
}
