package tracker

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/ipintel/ipinteltest"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// chromeHeaders are every header current desktop Chrome sends for a link a person
// clicked on another site, over HTTPS (the front proxy terminates TLS and says so).
var chromeHeaders = []string{
	"Host", "r.example",
	"Connection", "keep-alive",
	"sec-ch-ua", `"Chromium";v="156", "Not.A/Brand";v="99", "Google Chrome";v="156"`,
	"sec-ch-ua-mobile", "?0",
	"sec-ch-ua-platform", `"Windows"`,
	"Upgrade-Insecure-Requests", "1",
	"User-Agent", chromeUA,
	"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
	"Sec-Fetch-Site", "cross-site",
	"Sec-Fetch-Mode", "navigate",
	"Sec-Fetch-User", "?1",
	"Sec-Fetch-Dest", "document",
	"Referer", "https://blog.example/",
	"Accept-Encoding", "gzip, deflate, br, zstd",
	"Accept-Language", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7",
	"Priority", "u=0, i",
	"X-Forwarded-Proto", "https",
}

// networkEdge is an edge behind two trusted proxies (the TCP peer 203.0.113.9 and an
// inner balancer in 10.0.0.0/8) with svc as its network lookup.
func networkEdge(t testing.TB, svc *ipintel.Service, q ClickQueue) *Edge {
	t.Helper()
	e, err := NewEdge(Config{Origin: testOrigin, Keys: signing.MustKeyring(testSecret), CookieDomain: "market.example",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("10.0.0.0/8")},
		Quality:        Quality{Network: svc}}, memState(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// chromeClick sends one click with chromeHeaders through the proxies, X-Forwarded-For
// as given; hdr (name, value pairs) replaces headers.
func chromeClick(e *Edge, xff string, hdr ...string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://r.example/categories/design?ref=12345&src=link")
	for i := 0; i < len(chromeHeaders); i += 2 {
		req.Header.Set(chromeHeaders[i], chromeHeaders[i+1])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("X-Forwarded-For", xff)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4444}, nil)
	e.Handler(Routes{})(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

// TestNetworkEndToEnd: the same click from current Chrome with its full headers, through
// the proxies, from a cloud's address gets the verdict datacenter, no rfe_ref and the
// data-centre reasons; from a consumer ISP it is valid. Clients cannot choose: an address they put on the left of X-Forwarded-For is not
// believed.
func TestNetworkEndToEnd(t *testing.T) {
	svc := ipinteltest.Service(t)
	cases := []struct {
		name, xff string
		verdict   event.Verdict
		reasons   []string
		country   string
		asn       uint32
	}{
		{"AWS EC2 Frankfurt", "3.120.0.1, 10.0.0.5", event.Datacenter, []string{"net:datacenter", "net:asn=16509"}, "DE", 16509},
		{"Google Cloud", "34.64.0.1", event.Datacenter, []string{"net:datacenter", "net:asn=396982"}, "US", 396982},
		{"Hetzner IPv6", "2a01:4f8::1, 10.1.2.3", event.Datacenter, []string{"net:datacenter", "net:asn=24940"}, "DE", 24940},
		{"AWS claiming a home address", "178.64.0.1, 3.120.0.1, 10.0.0.5", event.Datacenter, []string{"net:datacenter", "net:asn=16509"}, "DE", 16509},
		{"Rostelecom", "178.64.0.1, 10.0.0.5", event.Valid, nil, "RU", 12389},
		{"MTS mobile", "85.140.0.1", event.Valid, nil, "RU", 8359},
		{"Deutsche Telekom IPv6", "2003::1", event.Valid, nil, "DE", 3320},
		{"Comcast", "73.0.0.1", event.Valid, nil, "US", 7922},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &memQueue{}
			resp := chromeClick(networkEdge(t, svc, q), tc.xff)
			if resp.StatusCode() != 302 {
				t.Fatalf("status %d, want 302", resp.StatusCode())
			}
			if len(q.clicks) != 1 {
				t.Fatalf("%d clicks queued, want 1", len(q.clicks))
			}
			c := q.clicks[0]
			gotRef := cookie(resp, refcookie.Name) != ""
			if c.Verdict != tc.verdict || !slices.Equal(c.Reasons(), tc.reasons) || gotRef != (tc.verdict == event.Valid) {
				t.Fatalf("verdict %s reasons %q rfe_ref set %v; want %s %q", c.Verdict, c.Reasons(), gotRef, tc.verdict, tc.reasons)
			}
			if c.Country() != tc.country || c.ASN != tc.asn {
				t.Fatalf("country %q ASN %d, want %q %d", c.Country(), c.ASN, tc.country, tc.asn)
			}
			// The envelope carries country and ASN, and no address.
			env := string(c.AppendEnvelope(nil))
			if want := fmt.Sprintf(`"country":%q,"asn":%d`, tc.country, tc.asn); !strings.Contains(env, want) {
				t.Fatalf("envelope lacks %s: %s", want, env)
			}
			if strings.Contains(env, "178.64.0.1") || strings.Contains(env, "3.120.0.1") {
				t.Fatalf("envelope holds a client address: %s", env)
			}
		})
	}
}

// TestNetworkPrecedence: a data centre's click that the request also disqualifies keeps
// the verdict of higher precedence (docs/traffic-quality.md): a crawler's User-Agent is a
// bot first; a hidden frame ranks below datacenter.
func TestNetworkPrecedence(t *testing.T) {
	svc := ipinteltest.Service(t)
	f := func(xff string, want event.Verdict, reasons []string, hdr ...string) {
		t.Helper()
		q := &memQueue{}
		chromeClick(networkEdge(t, svc, q), xff, hdr...)
		if c := q.clicks[0]; c.Verdict != want || !slices.Equal(c.Reasons(), reasons) {
			t.Errorf("%s %q: %s %q, want %s %q", xff, hdr, c.Verdict, c.Reasons(), want, reasons)
		}
	}
	f("3.120.0.1", event.Bot, []string{"ua:crawler", "net:datacenter", "net:asn=16509"}, "User-Agent", "curl/8.5.0")
	f("3.120.0.1", event.Datacenter, []string{"net:datacenter", "net:asn=16509", "fetch:dest=iframe"}, "Sec-Fetch-Dest", "iframe")
	f("178.64.0.1", event.HiddenFrame, []string{"fetch:dest=iframe"}, "Sec-Fetch-Dest", "iframe")
}

// TestNetworkAllowWins: the operator's allow list beats the curated list and the deny
// lists; the deny lists reach networks the curated list leaves out.
func TestNetworkAllowWins(t *testing.T) {
	country, asn := testenv.GeoData(t)
	svc, err := ipintel.New(ipintel.Config{CountryDB: country, ASNDBs: asn, Lists: ipintel.Lists{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("3.120.0.0/24")},
		AllowASNs:  []uint32{24940},
		DenyASNs:   []uint32{13335, 24940},
		DenyCIDRs:  []netip.Prefix{netip.MustParsePrefix("73.0.0.0/24")},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		xff     string
		verdict event.Verdict
	}{
		{"3.120.0.1", event.Valid},      // AWS, allowed by CIDR
		{"3.120.1.1", event.Datacenter}, // AWS outside the allowed /24
		{"5.9.0.1", event.Valid},        // Hetzner: allowed ASN wins over the deny list
		{"1.1.1.1", event.Datacenter},   // Cloudflare, denied by ASN
		{"73.0.0.1", event.Datacenter},  // Comcast, denied by CIDR
		{"73.0.1.1", event.Valid},       // Comcast elsewhere
		{"178.64.0.1", event.Valid},     // Rostelecom
	} {
		q := &memQueue{}
		chromeClick(networkEdge(t, svc, q), tc.xff)
		if c := q.clicks[0]; c.Verdict != tc.verdict {
			t.Errorf("%s: verdict %s %q, want %s", tc.xff, c.Verdict, c.Reasons(), tc.verdict)
		}
	}
}

// BenchmarkClassifyNetwork is BenchmarkClassify with the network step on the real
// databases, for a consumer ISP's address and a cloud's, and without the step ("off",
// the same as BenchmarkClassify) in the same run, so the step's cost is the difference
// even on a busy machine (docs/performance.md).
func BenchmarkClassifyNetwork(b *testing.B) {
	svc := ipinteltest.Service(b)
	for _, tc := range []struct{ name, ip string }{{"off", "178.64.0.1"}, {"consumer", "178.64.0.1"}, {"datacenter", "3.120.0.1"}, {"consumer-ipv6", "2003::1"}} {
		b.Run(tc.name, func(b *testing.B) {
			q := Quality{Network: svc}
			if tc.name == "off" {
				q.Network = nil
			}
			s := realisticSignals()
			s.IP = netip.MustParseAddr(tc.ip)
			benchClassify(b, NewClassifier(q, nil), s)
		})
	}
}

// TestNetworkReloadUnderClicks: clicks keep flowing while the ASN database is replaced
// again and again; every click is answered and queued, each carries the ASN of the
// database it was classified with (never none), and no reload fails.
func TestNetworkReloadUnderClicks(t *testing.T) {
	dir := t.TempDir()
	asnFile := filepath.Join(dir, "asn.csv")
	// Two versions of one network: AS64500 (denied by the operator) and AS64501 (not).
	write := func(asn int) {
		tmp := asnFile + ".tmp"
		body := fmt.Sprintf("198.51.100.0,198.51.100.255,%d,Example Net\n2001:db8::,2001:db8::ffff,%d,Example Net\n", asn, asn)
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, asnFile); err != nil {
			t.Fatal(err)
		}
	}
	write(64500)
	svc, err := ipintel.New(ipintel.Config{ASNDBs: []string{asnFile}, Curated: []ipintel.DatacenterASN{},
		Lists: ipintel.Lists{DenyASNs: []uint32{64500}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &memQueue{}
	e := networkEdge(t, svc, q)
	const workers, perWorker = 4, 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	var statusErrs sync.Map
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			xff := [...]string{"198.51.100.7", "2001:db8::7"}[w%2]
			for range perWorker {
				if resp := chromeClick(e, xff); resp.StatusCode() != 302 {
					statusErrs.Store(resp.StatusCode(), true)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	reloads := 0
	for asn := 64501; ; asn = 64500 + (asn+1)%2 {
		select {
		case <-done:
		default:
			write(asn)
			if err := svc.Reload(); err != nil {
				t.Fatalf("reload %d: %v", reloads, err)
			}
			reloads++
			continue
		}
		break
	}
	statusErrs.Range(func(k, _ any) bool { t.Errorf("a click was answered %v", k); return true })
	if len(q.clicks) != workers*perWorker {
		t.Fatalf("%d clicks queued, want %d", len(q.clicks), workers*perWorker)
	}
	seen := map[uint32]int{}
	for _, c := range q.clicks {
		seen[c.ASN]++
		want := event.Valid
		if c.ASN == 64500 {
			want = event.Datacenter
		}
		if c.ASN != 64500 && c.ASN != 64501 || c.Verdict != want {
			t.Fatalf("click with ASN %d verdict %s %q", c.ASN, c.Verdict, c.Reasons())
		}
	}
	if reloads < 2 {
		t.Fatalf("only %d reloads happened while the clicks ran", reloads)
	}
	t.Logf("%d clicks during %d reloads; by ASN %v", len(q.clicks), reloads, seen)
	if err := svc.Status(); err != nil {
		t.Fatalf("status after the reloads: %v", err)
	}
}

// TestNetworkExplain: the support tool shows the network's reasons, country and ASN.
func TestNetworkExplain(t *testing.T) {
	e := networkEdge(t, ipinteltest.Service(t), &memQueue{})
	resp, err := e.Explain(t.Context(), ClassifyRequest{URL: "https://r.example/?ref=12345", IP: "3.120.0.1",
		Headers: map[string]string{"User-Agent": chromeUA}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(resp.Reasons, "net:datacenter") || !slices.Contains(resp.Reasons, "net:asn=16509") ||
		resp.Country != "DE" || resp.ASN != 16509 {
		t.Fatalf("%+v", resp)
	}
}
