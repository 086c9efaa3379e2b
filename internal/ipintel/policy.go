package ipintel

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

//go:embed data/datacenter-asns.csv
var datacenterCSV []byte

// DatacenterASN is one entry of the curated list of data-centre networks.
type DatacenterASN struct {
	ASN      uint32
	Kind     string // cloud, hosting or vpn-hosting
	Operator string
	Source   string
}

// CuratedDatacenters returns the embedded list of data-centre networks
// (data/datacenter-asns.csv).
func CuratedDatacenters() ([]DatacenterASN, error) {
	r := csv.NewReader(bytes.NewReader(datacenterCSV))
	r.Comment = '#'
	r.FieldsPerRecord = 4
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("datacenter-asns.csv: %w", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "asn,kind,operator,source" {
		return nil, errors.New("datacenter-asns.csv: want the header asn,kind,operator,source")
	}
	out := make([]DatacenterASN, 0, len(recs)-1)
	seen := map[uint32]bool{}
	for i, rec := range recs[1:] {
		asn, err := parseASN(rec[0])
		switch {
		case err != nil:
			return nil, fmt.Errorf("datacenter-asns.csv: entry %d: %w", i+1, err)
		case seen[asn]:
			return nil, fmt.Errorf("datacenter-asns.csv: AS%d is listed twice", asn)
		case rec[1] != "cloud" && rec[1] != "hosting" && rec[1] != "vpn-hosting":
			return nil, fmt.Errorf("datacenter-asns.csv: AS%d: kind must be cloud, hosting or vpn-hosting", asn)
		case !strings.HasPrefix(rec[3], "https://"):
			return nil, fmt.Errorf("datacenter-asns.csv: AS%d: source must be an https URL", asn)
		}
		seen[asn] = true
		out = append(out, DatacenterASN{ASN: asn, Kind: rec[1], Operator: rec[2], Source: rec[3]})
	}
	return out, nil
}

// Lists are the operator's allow and deny lists. An address in AllowCIDRs or of an AS in
// AllowASNs is never a data centre's; otherwise one in DenyCIDRs or of an AS in DenyASNs
// or the curated list is.
type Lists struct {
	AllowCIDRs, DenyCIDRs []netip.Prefix
	AllowASNs, DenyASNs   []uint32
}

// policy decides whether a network is a data centre's.
type policy struct {
	denyASN, allowASN []uint32 // sorted
	denyNet, allowNet prefixSet
}

func newPolicy(curated []DatacenterASN, l Lists) *policy {
	p := &policy{
		allowASN: slices.Clone(l.AllowASNs),
		denyASN:  slices.Clone(l.DenyASNs),
		allowNet: newPrefixSet(l.AllowCIDRs),
		denyNet:  newPrefixSet(l.DenyCIDRs),
	}
	for _, d := range curated {
		p.denyASN = append(p.denyASN, d.ASN)
	}
	slices.Sort(p.allowASN)
	slices.Sort(p.denyASN)
	p.allowASN, p.denyASN = slices.Compact(p.allowASN), slices.Compact(p.denyASN)
	return p
}

// datacenter reports whether ip, announced by asn (0: unknown), is a data centre's.
func (p *policy) datacenter(ip netip.Addr, asn uint32) bool {
	if asn != 0 && hasASN(p.allowASN, asn) || p.allowNet.contains(ip) {
		return false
	}
	return asn != 0 && hasASN(p.denyASN, asn) || p.denyNet.contains(ip)
}

func hasASN(sorted []uint32, asn uint32) bool {
	_, ok := slices.BinarySearch(sorted, asn)
	return ok
}

// ParseCIDRs parses a list of CIDRs (or single addresses, taken as /32 or /128)
// separated by commas, spaces or new lines. An error names the entry by position and
// quotes it: these lists hold no secrets.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, f := range fields(s) {
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil && a.Zone() != "" {
				err = errors.New("zoned address")
			}
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q) is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32", i+1, clip(f))
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ParseASNs parses a list of AS numbers ("16509" or "AS16509") separated by commas,
// spaces or new lines.
func ParseASNs(s string) ([]uint32, error) {
	var out []uint32
	for i, f := range fields(s) {
		n, err := parseASN(f)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q): %w", i+1, clip(f), err)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseASN(f string) (uint32, error) {
	d := f
	if len(d) > 2 && strings.EqualFold(d[:2], "AS") {
		d = d[2:]
	}
	n, err := strconv.ParseUint(d, 10, 32)
	if err != nil || n == 0 || d[0] == '+' || d[0] == '0' {
		return 0, errors.New("want an AS number from 1 to 4294967295, such as 16509 or AS16509")
	}
	return uint32(n), nil
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// clip bounds an entry quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
