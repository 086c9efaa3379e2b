package ipintel

import (
	"bufio"
	"encoding/csv"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/refedge/refedge/internal/testenv"
)

// wellKnown are addresses whose network everybody knows, with what the pinned data
// (deploy/scripts/geo-data.sh) says about them. TestWellKnownAddresses checks every row
// against the raw files first — the ASN by scanning the CSV line by line, the country by
// decoding the .mmdb record whole — so a row cannot be a guess, and a data update that
// moves an address fails here with the new value.
var wellKnown = []struct {
	addr       string
	asn        uint32
	country    string
	datacenter bool
	what       string
}{
	// Public resolvers.
	{"8.8.8.8", 15169, "US", true, "Google Public DNS"},
	{"8.8.4.4", 15169, "US", true, "Google Public DNS"},
	{"2001:4860:4860::8888", 15169, "US", true, "Google Public DNS, IPv6"},
	{"1.1.1.1", 13335, "AU", false, "Cloudflare DNS (Cloudflare is left out: it carries iCloud Private Relay and WARP)"},
	{"1.0.0.1", 13335, "AU", false, "Cloudflare DNS"},
	{"2606:4700:4700::1111", 13335, "US", false, "Cloudflare DNS, IPv6"},
	{"9.9.9.9", 19281, "US", false, "Quad9"},
	{"208.67.222.222", 36692, "US", false, "Cisco OpenDNS"},
	{"77.88.8.8", 13238, "RU", false, "Yandex DNS (Yandex's own network is left out)"},
	{"77.88.8.1", 13238, "RU", false, "Yandex DNS"},
	// Clouds and hosting.
	{"3.5.140.1", 16509, "KR", true, "AWS, S3 Seoul"},
	{"18.196.0.1", 16509, "DE", true, "AWS EC2 Frankfurt"},
	{"3.120.0.1", 16509, "DE", true, "AWS EC2 Frankfurt"},
	{"52.0.0.1", 16509, "US", true, "AWS EC2 us-east-1"},
	{"44.192.0.1", 14618, "US", true, "AWS EC2 us-east-1 (AS14618)"},
	{"13.248.118.1", 16509, "IE", true, "AWS Global Accelerator"},
	{"34.64.0.1", 396982, "US", true, "Google Cloud"},
	{"35.186.224.25", 396982, "US", true, "Google Cloud"},
	{"35.190.0.1", 396982, "US", true, "Google Cloud load balancing"},
	{"104.196.0.1", 396982, "US", true, "Google Compute Engine"},
	{"20.42.0.1", 8075, "US", true, "Azure"},
	{"40.112.72.205", 8075, "IE", true, "Azure West Europe"},
	{"52.233.0.1", 8075, "CA", true, "Azure Canada"},
	{"5.9.0.1", 24940, "DE", true, "Hetzner"},
	{"88.198.0.1", 24940, "DE", true, "Hetzner"},
	{"95.216.0.1", 24940, "FI", true, "Hetzner Helsinki"},
	{"2a01:4f8::1", 24940, "DE", true, "Hetzner, IPv6"},
	{"5.161.0.1", 213230, "US", true, "Hetzner Cloud Ashburn"},
	{"51.38.0.1", 16276, "FR", true, "OVH"},
	{"137.74.0.1", 16276, "PL", true, "OVH"},
	{"2001:41d0::1", 16276, "FR", true, "OVH, IPv6"},
	{"104.131.0.1", 14061, "US", true, "DigitalOcean"},
	{"159.89.0.1", 14061, "DE", true, "DigitalOcean Frankfurt"},
	{"2604:a880::1", 14061, "US", true, "DigitalOcean, IPv6"},
	{"139.162.0.1", 63949, "US", true, "Linode (Akamai cloud computing)"},
	{"45.32.0.1", 20473, "US", true, "Vultr"},
	{"129.146.0.1", 31898, "US", true, "Oracle Cloud"},
	{"47.88.0.1", 45102, "US", true, "Alibaba Cloud"},
	{"43.128.0.1", 132203, "HK", true, "Tencent Cloud"},
	{"51.250.0.1", 200350, "RU", true, "Yandex Cloud"},
	{"92.53.64.1", 49505, "RU", true, "Selectel"},
	{"92.53.96.1", 9123, "RU", true, "Timeweb"},
	{"31.31.196.1", 197695, "RU", true, "REG.RU hosting"},
	{"62.210.0.1", 12876, "FR", true, "Scaleway"},
	{"217.160.0.1", 8560, "DE", true, "IONOS"},
	{"5.189.128.1", 51167, "FR", true, "Contabo"},
	// Consumer ISPs, fixed and mobile: they must stay valid.
	{"178.64.0.1", 12389, "RU", false, "Rostelecom"},
	{"188.32.0.1", 42610, "RU", false, "Rostelecom (Moscow)"},
	{"91.76.0.1", 8359, "RU", false, "MTS"},
	{"85.140.0.1", 8359, "RU", false, "MTS mobile"},
	{"95.24.0.1", 8402, "RU", false, "Beeline (Vimpelcom)"},
	{"83.149.0.1", 31133, "RU", false, "MegaFon"},
	{"31.173.80.1", 31133, "RU", false, "MegaFon mobile"},
	{"176.59.0.1", 15378, "RU", false, "T2 mobile"},
	{"109.252.0.1", 25513, "RU", false, "MGTS"},
	{"5.18.0.1", 41733, "RU", false, "ER-Telecom (Dom.ru)"},
	{"46.211.0.1", 15895, "UA", false, "Kyivstar"},
	{"73.0.0.1", 7922, "US", false, "Comcast"},
	{"2601::1", 7922, "US", false, "Comcast, IPv6"},
	{"24.160.0.1", 11427, "US", false, "Charter Spectrum"},
	{"99.0.0.1", 7018, "US", false, "AT&T"},
	{"79.192.0.1", 3320, "DE", false, "Deutsche Telekom"},
	{"2003::1", 3320, "DE", false, "Deutsche Telekom, IPv6"},
	{"188.192.0.1", 3209, "DE", false, "Vodafone Germany"},
	{"90.0.0.1", 3215, "FR", false, "Orange France"},
	{"2a01:cb00::1", 5511, "FR", false, "Orange France, IPv6"},
	{"82.64.0.1", 12322, "FR", false, "Free"},
	{"86.128.0.1", 2856, "GB", false, "BT"},
	{"83.32.0.1", 3352, "ES", false, "Telefonica Spain"},
	{"49.32.0.1", 55836, "IN", false, "Reliance Jio"},
	{"106.192.0.1", 45609, "IN", false, "Bharti Airtel mobile"},
	{"153.128.0.1", 4713, "JP", false, "NTT OCN"},
	{"101.160.0.1", 1221, "AU", false, "Telstra"},
}

// loadReal loads the real databases once per test binary (a load takes about a second,
// several under the race detector).
func loadReal(t testing.TB) *Service {
	t.Helper()
	country, asn := testenv.GeoData(t)
	realOnce.Do(func() { realSvc, realErr = New(Config{CountryDB: country, ASNDBs: asn}, nil) })
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realSvc
}

var (
	realOnce sync.Once
	realSvc  *Service
	realErr  error
)

// rawASNs scans the ASN CSV files line by line and returns, for each address, the AS
// number of the first line whose range holds it.
func rawASNs(t *testing.T, files []string, addrs []netip.Addr) []uint32 {
	t.Helper()
	out := make([]uint32, len(addrs))
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(bufio.NewReader(f))
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := netip.MustParseAddr(rec[0]), netip.MustParseAddr(rec[1])
			for i, a := range addrs {
				if out[i] == 0 && a.Compare(lo) >= 0 && a.Compare(hi) <= 0 {
					n, _ := strconv.ParseUint(rec[2], 10, 32)
					out[i] = uint32(n)
				}
			}
		}
		f.Close()
	}
	return out
}

func TestWellKnownAddresses(t *testing.T) {
	if len(wellKnown) < 50 {
		t.Fatalf("the table has %d rows; keep at least 50", len(wellKnown))
	}
	countryDB, asnDBs := testenv.GeoData(t)
	addrs := make([]netip.Addr, len(wellKnown))
	for i, w := range wellKnown {
		addrs[i] = netip.MustParseAddr(w.addr)
	}
	raw := rawASNs(t, asnDBs, addrs)
	mm, err := maxminddb.Open(countryDB)
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	curated, err := CuratedDatacenters()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[uint32]bool{}
	for _, d := range curated {
		listed[d.ASN] = true
	}
	s := loadReal(t)
	var dc, consumer int
	for i, w := range wellKnown {
		// The table against the raw files.
		var rec map[string]any
		if err := mm.Lookup(addrs[i]).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if raw[i] != w.asn {
			t.Errorf("%s (%s): the ASN CSV says AS%d, the table AS%d", w.addr, w.what, raw[i], w.asn)
		}
		if rec["country_code"] != w.country {
			t.Errorf("%s (%s): the country database says %v, the table %s", w.addr, w.what, rec["country_code"], w.country)
		}
		if listed[w.asn] != w.datacenter {
			t.Errorf("%s (%s): AS%d listed in datacenter-asns.csv: %v, the table expects a data centre: %v", w.addr, w.what, w.asn, listed[w.asn], w.datacenter)
		}
		// The service against the table.
		got := s.Lookup(addrs[i])
		if got.ASN != w.asn || got.Country != w.country || got.Datacenter != w.datacenter || got.Org == "" {
			t.Errorf("%s (%s): Lookup = %+v, want AS%d %s datacenter=%v", w.addr, w.what, got, w.asn, w.country, w.datacenter)
		}
		// The AS's name (shown on the dashboard's networks) is the organisation its
		// first range in the data names.
		if name := s.ASName(w.asn); name == "" || w.asn == 16509 && name != "Amazon.com, Inc." {
			t.Errorf("%s (%s): ASName(%d) = %q", w.addr, w.what, w.asn, name)
		}
		if w.datacenter {
			dc++
		} else {
			consumer++
		}
	}
	if name := s.ASName(64999); name != "" {
		t.Errorf("ASName of an AS in no range = %q, want empty", name)
	}
	t.Logf("%d addresses: %d data-centre, %d other", len(wellKnown), dc, consumer)
}

// TestCuratedListAnnounced: every curated ASN still announces ranges in the data, so
// the list names no dead network (deploy/scripts/refresh-datacenter-asns.sh reports the
// same with the organisation names).
func TestCuratedListAnnounced(t *testing.T) {
	s := loadReal(t)
	seen := map[uint32]bool{}
	d := s.data.Load()
	for _, r := range d.asn.ranges.v4 {
		seen[r.a] = true
	}
	for _, r := range d.asn.ranges.v6 {
		seen[r.a] = true
	}
	curated, _ := CuratedDatacenters()
	for _, c := range curated {
		if !seen[c.ASN] {
			t.Errorf("AS%d (%s) announces no range in the ASN data", c.ASN, c.Operator)
		}
	}
}

func TestLookupRealDataAllocations(t *testing.T) {
	s := loadReal(t)
	for _, w := range wellKnown {
		a := netip.MustParseAddr(w.addr)
		if n := testing.AllocsPerRun(100, func() { _ = s.Lookup(a) }); n != 0 {
			t.Errorf("Lookup(%s) allocates %.0f times", w.addr, n)
		}
	}
}

// TestLoadTime logs what a load costs: time, and the heap the loaded databases keep
// (docs/performance.md quotes it).
func TestLoadTime(t *testing.T) {
	country, asn := testenv.GeoData(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := New(Config{CountryDB: country, ASNDBs: asn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%s; wall %s; heap kept %.1f MiB", s.Describe(), took, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	runtime.KeepAlive(s)
}

func BenchmarkLookup(b *testing.B) {
	s := loadReal(b)
	addrs := make([]netip.Addr, len(wellKnown))
	for i, w := range wellKnown {
		addrs[i] = netip.MustParseAddr(w.addr)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.Lookup(addrs[i%len(addrs)])
	}
}
