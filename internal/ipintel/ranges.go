package ipintel

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

// byLoV6 orders IPv6 ranges by their first address.
func byLoV6(x, y v6Range) int {
	if c := cmp.Compare(x.lo.hi, y.lo.hi); c != 0 {
		return c
	}
	return cmp.Compare(x.lo.lo, y.lo.lo)
}

func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

func v6num(ip netip.Addr) u128 {
	b := ip.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func v4num(ip netip.Addr) uint32 {
	b := ip.As4()
	return binary.BigEndian.Uint32(b[:])
}

// v4Range and v6Range are inclusive ranges carrying two numbers: for the ASN table the
// AS number and the index of its organisation's name.
type v4Range struct{ lo, hi, a, b uint32 }

type v6Range struct {
	lo, hi u128
	a, b   uint32
}

// rangeTable holds sorted, non-overlapping ranges of each family. i4 and i6, when
// built, index them by 16 bits of the address (i4[k] is the first range whose start has
// key k or more), so a search looks at a few ranges near each other instead of
// bisecting the whole table: fewer steps, and fewer cache misses. The IPv4 key is the
// first 16 bits; the IPv6 key is the 16 bits after the 2000::/3 prefix every global
// unicast address has (key6), which spreads the allocated space far better than the
// first 16 bits would.
type rangeTable struct {
	v4     []v4Range
	v6     []v6Range
	i4, i6 []uint32
}

// key6 maps an IPv6 address's upper half to its index key: 0 below 2000::, 1<<16 from
// 4000:: on, bits 3-18 in between.
func key6(hi uint64) uint64 {
	const base, end = uint64(0x2000) << 48, uint64(0x4000) << 48
	switch {
	case hi < base:
		return 0
	case hi >= end:
		return 1 << 16
	}
	return (hi - base) >> 45
}

// index builds i4 and i6.
func (t *rangeTable) index() {
	t.i4, t.i6 = make([]uint32, 1<<16+1), make([]uint32, 1<<16+2)
	i := 0
	for k := 0; k <= 1<<16; k++ {
		for i < len(t.v4) && uint64(t.v4[i].lo) < uint64(k)<<16 {
			i++
		}
		t.i4[k] = uint32(i)
	}
	i = 0
	for k := 0; k <= 1<<16+1; k++ {
		for i < len(t.v6) && key6(t.v6[i].lo.hi) < uint64(k) {
			i++
		}
		t.i6[k] = uint32(i)
	}
}

// add appends the inclusive range [first, last]; both must be of one family and in
// order. IPv4-mapped IPv6 addresses count as IPv4.
func (t *rangeTable) add(first, last netip.Addr, a, b uint32) error {
	first, last = first.Unmap(), last.Unmap()
	switch {
	case first.Is4() && last.Is4():
		lo, hi := v4num(first), v4num(last)
		if hi < lo {
			return fmt.Errorf("range %s-%s ends before it starts", first, last)
		}
		t.v4 = append(t.v4, v4Range{lo, hi, a, b})
	case first.Is6() && last.Is6():
		lo, hi := v6num(first), v6num(last)
		if hi.less(lo) {
			return fmt.Errorf("range %s-%s ends before it starts", first, last)
		}
		t.v6 = append(t.v6, v6Range{lo, hi, a, b})
	default:
		return fmt.Errorf("range %s-%s mixes IPv4 and IPv6", first, last)
	}
	return nil
}

// seal sorts the ranges and resolves overlaps: the published data has a few ranges that
// begin inside the one before (the sets are merged from several sources). The earlier
// range keeps the shared addresses; the later one is cut to start after it, or dropped
// when nothing is left. seal returns how many ranges it cut or dropped.
func (t *rangeTable) seal() int {
	fixed := 0
	slices.SortStableFunc(t.v4, func(x, y v4Range) int { return cmp.Compare(x.lo, y.lo) })
	v4 := t.v4[:0]
	for _, r := range t.v4 {
		if n := len(v4); n > 0 && r.lo <= v4[n-1].hi {
			fixed++
			if r.hi <= v4[n-1].hi {
				continue
			}
			r.lo = v4[n-1].hi + 1
		}
		v4 = append(v4, r)
	}
	slices.SortStableFunc(t.v6, byLoV6)
	v6 := t.v6[:0]
	for _, r := range t.v6 {
		if n := len(v6); n > 0 && !v6[n-1].hi.less(r.lo) {
			fixed++
			if !v6[n-1].hi.less(r.hi) {
				continue
			}
			r.lo, _ = v6[n-1].hi.next()
		}
		v6 = append(v6, r)
	}
	t.v4, t.v6 = slices.Clone(v4), slices.Clone(v6) // exact size: append left up to twice the room
	t.index()
	return fixed
}

// mergeAdjacent joins neighbouring ranges that carry the same numbers and touch.
func (t *rangeTable) mergeAdjacent() {
	v4 := t.v4[:0]
	for _, r := range t.v4 {
		if n := len(v4); n > 0 && v4[n-1].a == r.a && v4[n-1].b == r.b && v4[n-1].hi+1 == r.lo {
			v4[n-1].hi = r.hi
			continue
		}
		v4 = append(v4, r)
	}
	v6 := t.v6[:0]
	for _, r := range t.v6 {
		if n := len(v6); n > 0 && v6[n-1].a == r.a && v6[n-1].b == r.b {
			if nx, ok := v6[n-1].hi.next(); ok && nx == r.lo {
				v6[n-1].hi = r.hi
				continue
			}
		}
		v6 = append(v6, r)
	}
	t.v4, t.v6 = slices.Clone(v4), slices.Clone(v6) // exact size: append left up to twice the room
	t.index()
}

// find returns the numbers of the range holding ip.
func (t *rangeTable) find(ip netip.Addr) (a, b uint32, ok bool) {
	ip = ip.Unmap()
	if ip.Is4() {
		n := v4num(ip)
		// The last range starting at or before n: every range before lo starts before n's
		// /16, every one from hi on after it.
		lo, hi := 0, len(t.v4)
		if t.i4 != nil {
			lo, hi = int(t.i4[n>>16]), int(t.i4[n>>16+1])
		}
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if t.v4[m].lo <= n {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 || t.v4[lo-1].hi < n {
			return 0, 0, false
		}
		r := &t.v4[lo-1]
		return r.a, r.b, true
	}
	if !ip.Is6() {
		return 0, 0, false
	}
	n := v6num(ip)
	lo, hi := 0, len(t.v6)
	if t.i6 != nil {
		k := key6(n.hi)
		lo, hi = int(t.i6[k]), int(t.i6[k+1])
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !n.less(t.v6[m].lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 || t.v6[lo-1].hi.less(n) {
		return 0, 0, false
	}
	r := &t.v6[lo-1]
	return r.a, r.b, true
}

// prefixSet is a set of CIDRs as merged ranges, for the operator's lists.
type prefixSet struct{ t rangeTable }

func newPrefixSet(ps []netip.Prefix) prefixSet {
	var t rangeTable
	for _, p := range ps {
		p = p.Masked()
		first := p.Addr()
		last := lastAddr(p)
		_ = t.add(first, last, 1, 0) // a masked prefix is one family and in order
	}
	// Merge overlapping or adjacent ranges so seal's no-overlap rule holds.
	slices.SortFunc(t.v4, func(x, y v4Range) int { return cmp.Compare(x.lo, y.lo) })
	var v4 []v4Range
	for _, r := range t.v4 {
		if n := len(v4); n > 0 && (r.lo <= v4[n-1].hi || v4[n-1].hi != ^uint32(0) && r.lo == v4[n-1].hi+1) {
			v4[n-1].hi = max(v4[n-1].hi, r.hi)
			continue
		}
		v4 = append(v4, r)
	}
	slices.SortFunc(t.v6, byLoV6)
	var v6 []v6Range
	for _, r := range t.v6 {
		if n := len(v6); n > 0 {
			prev := &v6[n-1]
			nx, ok := prev.hi.next()
			if !prev.hi.less(r.lo) || ok && nx == r.lo {
				if prev.hi.less(r.hi) {
					prev.hi = r.hi
				}
				continue
			}
		}
		v6 = append(v6, r)
	}
	return prefixSet{rangeTable{v4: v4, v6: v6}}
}

func (s *prefixSet) contains(ip netip.Addr) bool {
	_, _, ok := s.t.find(ip)
	return ok
}

func (s *prefixSet) empty() bool { return len(s.t.v4) == 0 && len(s.t.v6) == 0 }

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		n := v4num(a) | (^uint32(0) >> p.Bits())
		if p.Bits() == 0 {
			n = ^uint32(0)
		}
		return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, n)))
	}
	n := v6num(a)
	bits := p.Bits()
	switch {
	case bits == 0:
		n = u128{^uint64(0), ^uint64(0)}
	case bits < 64:
		n.hi |= ^uint64(0) >> bits
		n.lo = ^uint64(0)
	case bits < 128:
		n.lo |= ^uint64(0) >> (bits - 64)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], n.hi)
	binary.BigEndian.PutUint64(b[8:], n.lo)
	return netip.AddrFrom16(b)
}
