package tracker

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/internal/testenv"
)

// linksSnapshot is what the browser test reads off the link builder page.
type linksSnapshot struct {
	State      string            `json:"state"`
	Link       string            `json:"link"`
	Share      map[string]string `json:"share"`
	ShareLinks map[string]string `json:"share_links"`
	QRWidth    int               `json:"qr_width"`
	Error      string            `json:"error"`
	ErrorShown bool              `json:"error_shown"`
	Pwned      bool              `json:"pwned"`
}

const linksSnapshotJS = `(() => {
  const out = {state: document.documentElement.dataset.state || "", link: document.getElementById("link").value,
    share: {}, share_links: {}, qr_width: document.getElementById("qr").naturalWidth,
    error: document.getElementById("error").textContent, error_shown: !document.getElementById("error").hidden,
    pwned: !!document.getElementById("pwned")};
  for (const a of document.querySelectorAll("a.share")) out.share[a.id.slice(6)] = a.getAttribute("href") || "";
  for (const i of document.querySelectorAll("input[id^=share-link-]")) out.share_links[i.id.slice(11)] = i.value;
  return JSON.stringify(out);
})()`

// The link builder page in real headless Chromium: a partner signs in through a login
// link, pastes a page (with markup in its query), gets the link, share links and a QR
// code that decodes, from a screenshot, to the link; copies the link; and an off-origin
// URL shows the API's message. The page runs under its CSP without console errors.
func TestLinksPageInChromium(t *testing.T) {
	e := newLinksEnv(t)
	ctxBrowser := testenv.Chromium(t)
	console := testenv.CollectConsole(t, ctxBrowser)
	ctx, cancel := context.WithTimeout(ctxBrowser, 60*time.Second)
	defer cancel()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: e.base,
		}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	run := func(a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() linksSnapshot {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](linksSnapshotJS))
		if err != nil {
			t.Fatal(err)
		}
		var s linksSnapshot
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitState := func(want string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.dataset.state === "`+want+`"`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("page never reached %s: %v; %+v", want, err, snapshot())
		}
	}

	run(chromedp.EmulateViewport(1100, 1400))
	run(chromedp.Navigate(e.auth.LoginLink("12345") + "&next=/partner/links"))
	run(chromedp.WaitVisible("#link-form"))

	pasted := `https://market.example/search?q="><img id=pwned src=x onerror=alert(1)>&ref=999#top`
	run(chromedp.SetValue("#url", pasted))
	run(chromedp.SetValue("#sub", "blog-7"))
	run(chromedp.Click("#build"))
	waitState("ready")
	// The result fits a phone: no sideways scroll at 390 px (the share table scrolls in
	// its card).
	run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		t.Fatalf("the link builder is %d px wide on a 390 px phone (%v)", w, err)
	}
	run(chromedp.EmulateViewport(1100, 1400))
	s := snapshot()
	want := "https://market.example/search?q=%22%3E%3Cimg%20id=pwned%20src=x%20onerror=alert(1)%3E&ref=12345&sub=blog-7"
	if s.Link != want || s.Pwned {
		t.Fatalf("link %q (element injected: %v), want %q", s.Link, s.Pwned, want)
	}
	for _, n := range ShareNetworks {
		if s.ShareLinks[n] != want+"&src=share-"+n || s.Share[n] != ShareURL(n, want+"&src=share-"+n) {
			t.Errorf("%s: share %q link %q", n, s.Share[n], s.ShareLinks[n])
		}
	}
	if s.QRWidth == 0 {
		t.Fatal("QR image not loaded")
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot("#qr"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, img); got != want {
		t.Fatalf("the QR code on the page decodes to %q, want %q", got, want)
	}
	if dir := os.Getenv("REFEDGE_ARTIFACTS_DIR"); dir != "" {
		page, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "links.png"), page, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Copy puts the link on the clipboard.
	run(chromedp.Click(`button.copy[data-copy="link"]`))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('button.copy[data-copy="link"]').dataset.state === "copied"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("copy button: %v", err)
	}
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || clip != want {
		t.Fatalf("clipboard %q (%v), want the link", clip, err)
	}

	// Off the origin: the API's message is shown and the old result hidden.
	run(chromedp.SetValue("#url", "https://market.example@evil.example/"))
	run(chromedp.Click("#build"))
	waitState("error")
	s = snapshot()
	if !s.ErrorShown || !strings.Contains(s.Error, "user name or password") {
		t.Fatalf("error shown %v: %q", s.ErrorShown, s.Error)
	}
	for _, m := range console.Messages() {
		// The refused request itself is logged by Chromium as a failed resource (422).
		if strings.Contains(m, "status of 422") {
			continue
		}
		if strings.Contains(m, "rror") || strings.Contains(m, "exception") || strings.Contains(m, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}
