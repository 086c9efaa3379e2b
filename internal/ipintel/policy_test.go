package ipintel

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 203.0.113.0/24, 2001:db8::/32\n198.51.100.7 ::ffff:192.0.2.0/120,10.1.2.3/8 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32", "192.0.2.0/24", "10.0.0.0/8"}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if !slices.Equal(s, want) {
		t.Fatalf("got %v, want %v", s, want)
	}
	for _, bad := range []string{"203.0.113.0/33", "example.com", "1.2.3.4/x", "fe80::1%eth0", "10.0.0.0/8,,nope"} {
		if _, err := ParseCIDRs(bad); err == nil || !strings.Contains(err.Error(), "is not a CIDR") {
			t.Errorf("ParseCIDRs(%q): %v, want a clear error", bad, err)
		}
	}
	if got, err := ParseCIDRs(""); err != nil || got != nil {
		t.Errorf("empty list: %v, %v", got, err)
	}
}

func TestParseASNs(t *testing.T) {
	got, err := ParseASNs("16509, AS24940 as14061\n4294967295")
	if err != nil || !slices.Equal(got, []uint32{16509, 24940, 14061, 4294967295}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"0", "AS", "4294967296", "-1", "+5", "016509", "AS 5", "16509x", "AS0"} {
		if _, err := ParseASNs(bad); err == nil || !strings.Contains(err.Error(), "AS number") {
			t.Errorf("ParseASNs(%q): %v, want a clear error", bad, err)
		}
	}
}

// FuzzParseLists: the operator-list parsers never panic, and what they accept is
// consistent: every CIDR is masked and contains its own first address, every AS
// number is positive, and printing and parsing again gives the same list.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"203.0.113.0/24, 2001:db8::/32", "AS16509 24940", "::ffff:1.2.3.4/128", "0.0.0.0/0,::/0", "as1,AS4294967295", "1.2.3.4%x", "\n\t,", "AS00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ps, err := ParseCIDRs(s); err == nil {
			var parts []string
			for _, p := range ps {
				if p != p.Masked() || !p.Contains(p.Addr()) || p.Addr().Is4In6() {
					t.Fatalf("ParseCIDRs(%q) gave %s", s, p)
				}
				parts = append(parts, p.String())
			}
			again, err := ParseCIDRs(strings.Join(parts, ","))
			if err != nil || !slices.Equal(again, ps) {
				t.Fatalf("ParseCIDRs(%q) = %v, again %v, %v", s, ps, again, err)
			}
			set := newPrefixSet(ps)
			for _, p := range ps {
				if !set.contains(p.Addr()) || !set.contains(lastAddr(p)) {
					t.Fatalf("prefix set of %v misses %s", ps, p)
				}
			}
		} else if !strings.Contains(err.Error(), "entry ") {
			t.Fatalf("ParseCIDRs(%q): error %q names no entry", s, err)
		}
		if as, err := ParseASNs(s); err == nil {
			var parts []string
			for _, n := range as {
				if n == 0 {
					t.Fatalf("ParseASNs(%q) gave 0", s)
				}
				parts = append(parts, fmt.Sprint(n))
			}
			again, err := ParseASNs(strings.Join(parts, " "))
			if err != nil || !slices.Equal(again, as) {
				t.Fatalf("ParseASNs(%q) = %v, again %v, %v", s, as, again, err)
			}
		} else if !strings.Contains(err.Error(), "entry ") {
			t.Fatalf("ParseASNs(%q): error %q names no entry", s, err)
		}
	})
}

func TestPrefixSet(t *testing.T) {
	var ps []netip.Prefix
	for _, s := range []string{"10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8", "192.0.2.128/25", "192.0.2.0/25", "2001:db8::/33", "2001:db8:8000::/33", "::/128", "255.255.255.255/32"} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	set := newPrefixSet(ps)
	if len(set.t.v4) != 3 || len(set.t.v6) != 2 {
		t.Fatalf("merged into %d IPv4 and %d IPv6 ranges, want 3 and 2", len(set.t.v4), len(set.t.v6))
	}
	for a, want := range map[string]bool{
		"10.0.0.0": true, "11.255.255.255": true, "12.0.0.0": false, "9.255.255.255": false,
		"192.0.2.0": true, "192.0.2.255": true, "192.0.3.0": false, "255.255.255.255": true,
		"2001:db8::1": true, "2001:db8:ffff::1": true, "2001:db9::": false, "::": true, "::1": false,
		"::ffff:10.2.3.4": true,
	} {
		if got := set.contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("contains(%s) = %v, want %v", a, got, want)
		}
	}
}

// TestRangeTableOverlap: a range that begins inside the one before is cut to start after
// it, or dropped when it lies wholly inside; lookups at the edges answer right.
func TestRangeTableOverlap(t *testing.T) {
	var tb rangeTable
	add := func(a, b string, n uint32) {
		if err := tb.add(netip.MustParseAddr(a), netip.MustParseAddr(b), n, 0); err != nil {
			t.Fatal(err)
		}
	}
	add("1.0.0.0", "1.0.0.255", 1)
	add("1.0.0.128", "1.0.1.255", 2) // overlaps: cut to 1.0.1.0
	add("1.0.0.10", "1.0.0.20", 3)   // inside the first: dropped
	add("9.0.0.0", "9.0.0.0", 4)
	add("2001:db8::", "2001:db8::ff", 5)
	add("2001:db8::80", "2001:db8::1ff", 6)
	if fixed := tb.seal(); fixed != 3 {
		t.Fatalf("seal fixed %d ranges, want 3", fixed)
	}
	for a, want := range map[string]uint32{"1.0.0.0": 1, "1.0.0.15": 1, "1.0.0.255": 1, "1.0.1.0": 2, "1.0.1.255": 2, "1.0.2.0": 0,
		"0.255.255.255": 0, "9.0.0.0": 4, "9.0.0.1": 0, "8.255.255.255": 0, "2001:db8::ff": 5, "2001:db8::100": 6, "2001:db8::200": 0, "::": 0} {
		if got, _, _ := tb.find(netip.MustParseAddr(a)); got != want {
			t.Errorf("find(%s) = %d, want %d", a, got, want)
		}
	}
	if err := tb.add(netip.MustParseAddr("1.0.0.2"), netip.MustParseAddr("1.0.0.1"), 0, 0); err == nil {
		t.Error("a range ending before it starts was taken")
	}
	if err := tb.add(netip.MustParseAddr("1.0.0.2"), netip.MustParseAddr("::1"), 0, 0); err == nil {
		t.Error("a range mixing families was taken")
	}
}

func TestCuratedList(t *testing.T) {
	list, err := CuratedDatacenters()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 30 {
		t.Fatalf("%d entries", len(list))
	}
	for _, consumer := range []uint32{12389, 8359, 3216, 8402, 31133, 7922, 3320, 3215, 13335, 36183, 13238} {
		if slices.ContainsFunc(list, func(d DatacenterASN) bool { return d.ASN == consumer }) {
			t.Errorf("AS%d is a consumer network or carries people's relays, and is listed", consumer)
		}
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, cfg := range map[string]Config{
		"missing ASN file":   {ASNDBs: []string{filepath.Join(dir, "nope.csv")}},
		"bad ASN line":       {ASNDBs: []string{write("bad.csv", "1.0.0.0,1.0.0.255,x,Org\n")}},
		"short ASN line":     {ASNDBs: []string{write("short.csv", "1.0.0.0,1.0.0.255\n")}},
		"empty ASN file":     {ASNDBs: []string{write("empty.csv", "")}},
		"not a country db":   {CountryDB: write("bad.mmdb", "not a database")},
		"folder as database": {CountryDB: dir},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestWatchReloadsChangedFile: a database file renamed over the old one is picked up
// by the watcher; a broken one leaves the old data in use, and Status and the metrics
// the alerts read (deploy/k8s/prometheus/refedge.rules.yml) say so.
func TestWatchReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "asn.csv")
	put := func(body string) {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	put("198.51.100.0,198.51.100.255,64500,Old Net\n")
	gauges := func(want string) {
		t.Helper()
		got := fmt.Sprintf("country=%v asn=%v failed=%v", value(loaded.WithLabelValues("country")),
			value(loaded.WithLabelValues("asn")), value(reloadFailed))
		if got != want {
			t.Fatalf("gauges %s, want %s", got, want)
		}
	}
	if _, err := New(Config{Curated: []DatacenterASN{}}, nil); err != nil {
		t.Fatal(err)
	}
	gauges("country=0 asn=0 failed=0")
	s, err := New(Config{ASNDBs: []string{file}, Curated: []DatacenterASN{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gauges("country=0 asn=1 failed=0")
	errorsBefore := value(reloadsTotal.WithLabelValues("error"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Watch(ctx, 5*time.Millisecond)
	addr := netip.MustParseAddr("198.51.100.1")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10s", what)
			}
			runtimeGosched()
		}
	}
	put("198.51.100.0,198.51.100.255,64501,New Network Ltd\n")
	waitFor("reload of the new file", func() bool { return s.Lookup(addr).ASN == 64501 })
	if in := s.Lookup(addr); in.Org != "New Network Ltd" {
		t.Fatalf("after reload: %+v", in)
	}
	put("198.51.100.0,not an address,64502,Broken\n")
	waitFor("a failed reload", func() bool { return s.Status() != nil })
	if in := s.Lookup(addr); in.ASN != 64501 {
		t.Fatalf("a broken file replaced the data: %+v", in)
	}
	gauges("country=0 asn=1 failed=1")
	if n := value(reloadsTotal.WithLabelValues("error")) - errorsBefore; n < 1 {
		t.Fatalf("%v reload errors counted", n)
	}
	put("198.51.100.0,198.51.100.255,64503,Fixed\n")
	waitFor("recovery", func() bool { return s.Lookup(addr).ASN == 64503 && s.Status() == nil })
	gauges("country=0 asn=1 failed=0")
}

// runtimeGosched yields while a test polls for the watcher's work.
func runtimeGosched() { runtime.Gosched() }

// value reads a gauge's or counter's current value.
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if out.Gauge != nil {
		return out.Gauge.GetValue()
	}
	return out.Counter.GetValue()
}
