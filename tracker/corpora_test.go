package tracker_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
	"github.com/refedge/refedge/tracker"
)

// The classifier against public corpora it does not embed, for at least 99% crawler
// recall and at most 0.5% browsers taken for bots: the corpora
// (tracker/crawlers/testdata/SOURCES.md), sent through the real click path — a
// fasthttp server on loopback, RedisState on real Redis, the public handler — each
// User-Agent with the headers the browser it claims really sends for a link the user
// clicked. docs/traffic-quality-evaluation.md reports the figures.
const (
	corpusMinCrawlerRecall = 0.99
	corpusMaxBrowserFPRate = 0.005
	corpusListMax          = 50 // false positives/negatives logged per corpus
	corpusPartner          = "corpus"
	corpusWorkers          = 8
)

type corpusCase struct {
	ua      string
	crawler bool
	group   string // the header profile, for the per-group breakdown
	hdr     [][2]string
	gotRef  bool // the answer set rfe_ref
}

type corpusResult struct {
	verdict event.Verdict
	reasons []string
}

// verdictQueue is the ClickQueue: it keeps each click's verdict and reasons by the sub
// id the test put on its URL, and releases the click.
type verdictQueue struct {
	mu  sync.Mutex
	got map[string]corpusResult
}

func (q *verdictQueue) Enqueue(c *event.Click) error {
	// The click's strings alias its pooled arena: copy them before releasing it.
	r := corpusResult{verdict: c.Verdict, reasons: c.Reasons()}
	for i := range r.reasons {
		r.reasons[i] = strings.Clone(r.reasons[i])
	}
	q.mu.Lock()
	q.got[strings.Clone(c.SubID())] = r
	q.mu.Unlock()
	event.ReleaseClick(c)
	return nil
}

func TestCorporaThroughClickPath(t *testing.T) {
	crawlers := readUACorpus(t, "crawlers-crawlerdetect.txt.gz")
	browsers := readUACorpus(t, "browsers-user-agents.txt.gz")
	cases := make([]corpusCase, 0, len(crawlers)+len(browsers))
	for _, ua := range crawlers {
		group, hdr := navigationHeaders(ua)
		cases = append(cases, corpusCase{ua: ua, crawler: true, group: group, hdr: hdr})
	}
	for _, ua := range browsers {
		group, hdr := navigationHeaders(ua)
		cases = append(cases, corpusCase{ua: ua, group: group, hdr: hdr})
	}

	got, elapsed := runClickPath(t, cases)
	t.Logf("%d requests (%d crawler, %d browser UAs) in %v over loopback, %d workers",
		len(cases), len(crawlers), len(browsers), elapsed.Round(time.Millisecond), corpusWorkers)

	// Figures.
	type tally struct {
		n, flagged int
		verdicts   map[event.Verdict]int
		reasons    map[string]int
		groups     map[string][2]int // group -> {n, flagged}
		listed     []string          // false negatives (crawlers) or false positives (browsers)
	}
	newTally := func() *tally {
		return &tally{verdicts: map[event.Verdict]int{}, reasons: map[string]int{}, groups: map[string][2]int{}}
	}
	crawl, brow := newTally(), newTally()
	for i := range cases {
		c := &cases[i]
		r, ok := got[strconv.Itoa(i)]
		if !ok {
			t.Fatalf("no click queued for case %d (%q)", i, c.ua)
		}
		if c.gotRef != (r.verdict == event.Valid) {
			t.Errorf("case %d (%q): verdict %s but rfe_ref set: %v", i, c.ua, r.verdict, c.gotRef)
		}
		tl := brow
		if c.crawler {
			tl = crawl
		}
		tl.n++
		tl.verdicts[r.verdict]++
		for _, reason := range r.reasons {
			tl.reasons[reason]++
		}
		g := tl.groups[c.group]
		g[0]++
		if r.verdict != event.Valid {
			tl.flagged++
			g[1]++
		}
		tl.groups[c.group] = g
		if c.crawler == (r.verdict == event.Valid) { // a miss either way
			tl.listed = append(tl.listed, fmt.Sprintf("%-14s %-40s %s", r.verdict, strings.Join(r.reasons, ","), c.ua))
		}
	}
	recall := float64(crawl.flagged) / float64(crawl.n)
	fpRate := float64(brow.flagged) / float64(brow.n)
	t.Logf("crawler UAs (es6-crawler-detect 3.3.0 fixture): %d/%d non-valid = %.2f%% recall (need >= %.0f%%)",
		crawl.flagged, crawl.n, 100*recall, 100*corpusMinCrawlerRecall)
	t.Logf("browser UAs (npm user-agents samples): %d/%d non-valid = %.3f%% false positives (allowed <= %.1f%%)",
		brow.flagged, brow.n, 100*fpRate, 100*corpusMaxBrowserFPRate)
	for _, x := range []struct {
		name string
		tl   *tally
		miss string
	}{{"crawler", crawl, "false negative (valid)"}, {"browser", brow, "false positive"}} {
		t.Logf("%s verdicts: %s", x.name, histogram(x.tl.verdicts, func(v event.Verdict) string { return v.String() }))
		t.Logf("%s reasons: %s", x.name, histogram(x.tl.reasons, func(s string) string { return s }))
		t.Logf("%s header profiles (profile: flagged/n): %s", x.name, groupLine(x.tl.groups))
		for i, line := range x.tl.listed {
			if i == corpusListMax {
				t.Logf("  ... %d more", len(x.tl.listed)-i)
				break
			}
			t.Logf("  %s: %s", x.miss, line)
		}
	}
	if recall < corpusMinCrawlerRecall {
		t.Errorf("crawler recall %.2f%% < %.0f%%", 100*recall, 100*corpusMinCrawlerRecall)
	}
	if fpRate > corpusMaxBrowserFPRate {
		t.Errorf("browser false-positive rate %.3f%% > %.1f%%", 100*fpRate, 100*corpusMaxBrowserFPRate)
	}
}

// runClickPath sends every case through the real click path — RedisState on a leased
// database, a registered active partner, the public handler on a loopback listener —
// and returns each case's queued verdict by its index, and the time the requests took.
func runClickPath(t *testing.T, cases []corpusCase) (map[string]corpusResult, time.Duration) {
	t.Helper()
	// The real click path: RedisState on a leased database, a registered active partner,
	// the public handler on a loopback listener.
	rdb := testenv.Redis(t)
	ctx := context.Background()
	if err := (&partners.Registry{Redis: rdb}).Upsert(ctx, partners.Partner{ID: corpusPartner, Status: partners.Active, EmailConfirmed: true}); err != nil {
		t.Fatal(err)
	}
	st := &tracker.RedisState{Redis: rdb}
	q := &verdictQueue{got: make(map[string]corpusResult, len(cases))}
	edge, err := tracker.NewEdge(tracker.Config{
		Origin: "https://market.example",
		Keys:   signing.MustKeyring("corpus-test-secret-0123456789"),
		// The test client is the trusted front proxy: it says which client each request
		// is for (X-Forwarded-For) and that the client spoke HTTPS (X-Forwarded-Proto).
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}, st, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: edge.Handler(tracker.Routes{}), ReadTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		<-served
	})
	client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: corpusWorkers, ReadTimeout: 10 * time.Second}

	start := time.Now()
	idx := make(chan int)
	errs := make(chan error, corpusWorkers)
	var wg sync.WaitGroup
	for w := 0; w < corpusWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := range idx {
				if err := sendCorpusClick(client, req, resp, i, &cases[i]); err != nil {
					errs <- err
					for range idx { // drain so the producer ends
					}
					return
				}
			}
		}()
	}
	for i := range cases {
		idx <- i
	}
	close(idx)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	client.CloseIdleConnections()
	// Every click was queued before its response was written; the lock orders the reads
	// after the handlers' writes.
	q.mu.Lock()
	got := q.got
	q.mu.Unlock()
	if len(got) != len(cases) {
		t.Fatalf("%d clicks queued for %d requests", len(got), len(cases))
	}
	return got, elapsed
}

// sendCorpusClick sends case i and checks the answer: a redirect to the origin, with
// rfe_ref exactly when the queued verdict is valid.
func sendCorpusClick(client *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, i int, c *corpusCase) error {
	req.Reset()
	resp.Reset()
	req.SetRequestURI("http://r.example/kwork/42?ref=" + corpusPartner + "&sub=" + strconv.Itoa(i))
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("User-Agent", c.ua)
	for _, h := range c.hdr {
		req.Header.Set(h[0], h[1])
	}
	// The front proxy's view: HTTPS, and a client address of this request's own, so the
	// duplicate window and rate limits never see two corpus entries as one visitor.
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}).String())
	if err := client.DoTimeout(req, resp, 10*time.Second); err != nil {
		return fmt.Errorf("case %d (%q): %w", i, c.ua, err)
	}
	if resp.StatusCode() != fasthttp.StatusFound || string(resp.Header.Peek("Location")) != "https://market.example/kwork/42" {
		return fmt.Errorf("case %d (%q): status %d, Location %q", i, c.ua, resp.StatusCode(), resp.Header.Peek("Location"))
	}
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(refcookie.Name)
	c.gotRef = resp.Header.Cookie(ck) && len(ck.Value()) > 0
	return nil
}

// navigationHeaders returns what the browser ua claims to be sends, besides the
// User-Agent, for a top-level navigation the user started by clicking a link on a
// partner's page on another site, and a label of that header profile. Sources: Fetch
// Metadata shipped in Chromium 76 (Sec-Fetch-Dest in 80) and Firefox 90, and in Safari
// 16.4 without Sec-Fetch-User; UA client hints in Chromium 89; every iOS browser is
// WebKit, so its Fetch Metadata follows the iOS version. A UA that claims no browser
// gets the plain browser headers too: the worst case, where only the UA can tell.
func navigationHeaders(ua string) (group string, hdr [][2]string) {
	add := func(k, v string) { hdr = append(hdr, [2]string{k, v}) }
	acceptHTML := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	lang := "en-US,en;q=0.9"
	referer := "https://partner-blog.example/"
	fetch := func(user bool) {
		add("Sec-Fetch-Site", "cross-site")
		add("Sec-Fetch-Mode", "navigate")
		if user {
			add("Sec-Fetch-User", "?1")
		}
	}
	switch {
	case reIOS.MatchString(ua):
		v := versionOf(reIOS, ua)
		group = "webkit-ios"
		if v >= 16_04 {
			group += ">=16.4"
			add("Sec-Fetch-Dest", "document")
			fetch(false)
		} else {
			group += "<16.4"
		}
		add("Accept", acceptHTML)
	case reFirefox.MatchString(ua):
		v := versionOf(reFirefox, ua)
		lang = "en-US,en;q=0.5"
		switch {
		case v >= 128:
			add("Accept", acceptHTML)
		case v >= 92:
			add("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
		default:
			add("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8")
		}
		group = "firefox<90"
		if v >= 90 {
			group = "firefox>=90"
			add("Sec-Fetch-Dest", "document")
			fetch(true)
		}
	case reChrome.MatchString(ua):
		v := versionOf(reChrome, ua)
		switch {
		case v >= 86:
			add("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
		default:
			add("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8")
		}
		switch {
		case v >= 89:
			group = "chromium>=89"
		case v >= 76:
			group = "chromium76-88"
		default:
			group = "chromium<76"
		}
		if v >= 80 {
			add("Sec-Fetch-Dest", "document")
		}
		if v >= 76 {
			fetch(true)
		}
		if v >= 89 {
			if brands, ok := clientHintBrands(ua, v); ok {
				add("Sec-CH-UA", brands)
				add("Sec-CH-UA-Mobile", map[bool]string{true: "?1", false: "?0"}[strings.Contains(ua, "Mobile")])
				add("Sec-CH-UA-Platform", `"`+platformOf(ua)+`"`)
			} else {
				group += "-webview"
			}
		}
		if v < 85 {
			referer = "https://partner-blog.example/post/42" // before strict-origin-when-cross-origin
		}
	case reSafari.MatchString(ua):
		v := versionOf(reSafari, ua)
		group = "webkit-mac"
		if v >= 16_04 {
			group += ">=16.4"
			add("Sec-Fetch-Dest", "document")
			fetch(false)
		} else {
			group += "<16.4"
		}
		add("Accept", acceptHTML)
	default:
		group = "no-browser-claim"
		add("Accept", acceptHTML)
	}
	add("Accept-Language", lang)
	add("Accept-Encoding", "gzip, deflate, br")
	add("Upgrade-Insecure-Requests", "1")
	add("Referer", referer)
	return group, hdr
}

var (
	reIOS     = regexp.MustCompile(`(?:iPhone|iPad|iPod).*? OS (\d+)(?:_(\d+))?`)
	reFirefox = regexp.MustCompile(`Firefox/(\d+)`)
	reChrome  = regexp.MustCompile(`(?:Chrome|Chromium)/(\d+)`)
	reSafari  = regexp.MustCompile(`Version/(\d+)(?:\.(\d+))?.*Safari/`)
)

// versionOf returns major (or major*100+minor when re has two groups) of ua.
func versionOf(re *regexp.Regexp, ua string) int {
	m := re.FindStringSubmatch(ua)
	if m == nil {
		return 0
	}
	major, _ := strconv.Atoi(m[1])
	if len(m) < 3 {
		return major
	}
	minor, _ := strconv.Atoi(m[2])
	return major*100 + minor
}

// clientHintBrands builds the Sec-CH-UA a Chromium browser of that major version and
// product sends (a GREASE brand, "Chromium" and the product's own brand). Android
// WebView in apps that set their own UA string (all in-app browsers) is left without
// client hints: ok is false.
func clientHintBrands(ua string, major int) (string, bool) {
	if strings.Contains(ua, "; wv)") {
		return "", false
	}
	product, pv := "Google Chrome", major
	for _, p := range []struct{ token, brand string }{
		{"Edg/", "Microsoft Edge"}, {"EdgA/", "Microsoft Edge"}, {"OPR/", "Opera"}, {"YaBrowser/", "YaBrowser"},
		{"SamsungBrowser/", "Samsung Internet"}, {"AVG/", "AVG Secure Browser"}, {"Norton/", "Norton Secure Browser"},
	} {
		if i := strings.Index(ua, p.token); i >= 0 {
			product = p.brand
			pv, _ = strconv.Atoi(strings.SplitN(ua[i+len(p.token):], ".", 2)[0])
			break
		}
	}
	return fmt.Sprintf(`"Chromium";v="%d", "Not_A Brand";v="24", "%s";v="%d"`, major, product, pv), true
}

func platformOf(ua string) string {
	switch {
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Macintosh"):
		return "macOS"
	case strings.Contains(ua, "CrOS"):
		return "Chrome OS"
	case strings.Contains(ua, "Linux"):
		return "Linux"
	}
	return "Unknown"
}

func readUACorpus(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("crawlers", "testdata", name))
	if err != nil {
		t.Fatalf("cannot open corpus (see tracker/crawlers/testdata/SOURCES.md): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 1000 {
		t.Fatalf("corpus %s has only %d lines", name, len(out))
	}
	return out
}

// histogram renders counts, largest first.
func histogram[K comparable](m map[K]int, name func(K) string) string {
	type kv struct {
		k string
		n int
	}
	var list []kv
	for k, n := range m {
		list = append(list, kv{name(k), n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].k < list[j].k
	})
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = fmt.Sprintf("%s=%d", x.k, x.n)
	}
	return strings.Join(parts, " ")
}

func groupLine(g map[string][2]int) string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d/%d", k, g[k][1], g[k][0])
	}
	return strings.Join(parts, ", ")
}

// TestFetchMetadataVersionGate pins the fix the corpus run led to: "hdr:no-fetch-metadata"
// holds a browser to the headers its claimed version sends. Chromium sends Sec-Fetch-*
// from 76 and Firefox from 90; an older claim without them is consistent, and is left
// to the crawler list and the beacon.
func TestFetchMetadataVersionGate(t *testing.T) {
	cl := tracker.NewClassifier(tracker.Quality{}, nil)
	f := func(ua string, want event.Verdict) {
		t.Helper()
		s := &tracker.Signals{
			UserAgent: []byte(ua), Accept: []byte("text/html,*/*;q=0.8"), AcceptLanguage: []byte("en-US,en;q=0.9"),
			TLS: true, PartnerValid: true, State: tracker.State{Partner: tracker.PartnerActive},
		}
		c := event.AcquireClick()
		defer event.ReleaseClick(c)
		var d tracker.Decision
		if v := cl.Classify(s, c, &d); v != want {
			t.Errorf("%s without Fetch Metadata over HTTPS: %s %v, want %s", ua, v, c.Reasons(), want)
		}
	}
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/75.0.3770.142 Safari/537.36", event.Valid)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/76.0.3809.100 Safari/537.36", event.Bot)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045", event.Valid)
	f("Mozilla/5.0 (Android 10; Mobile; rv:89.0) Gecko/89.0 Firefox/89.0", event.Valid)
	f("Mozilla/5.0 (Android 10; Mobile; rv:90.0) Gecko/90.0 Firefox/90.0", event.Bot)
	f("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", event.Bot)
}
