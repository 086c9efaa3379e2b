package ipintel

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
)

// asnDB maps address ranges to autonomous systems. Organisation names are stored once
// each; the ranges refer to them by index.
type asnDB struct {
	ranges rangeTable
	orgs   []string
	// names maps an AS number to its organisation (the first one its ranges name).
	names map[uint32]uint32
	// overlaps counts the ranges cut or dropped because they overlapped another.
	overlaps int
}

// lookup returns ip's AS number and organisation, or zeros.
func (db *asnDB) lookup(ip netip.Addr) (uint32, string) {
	asn, org, ok := db.ranges.find(ip)
	if !ok {
		return 0, ""
	}
	return asn, db.orgs[org]
}

// name returns the organisation of AS asn, or "".
func (db *asnDB) name(asn uint32) string {
	if i, ok := db.names[asn]; ok {
		return db.orgs[i]
	}
	return ""
}

// loadASN reads ASN CSV files: one inclusive range a line, "first,last,asn,organisation",
// first and last IPv4 or IPv6 addresses (the @ip-location-db/asn format; organisation
// names with commas are quoted).
func loadASN(paths []string) (*asnDB, error) {
	if len(paths) == 0 {
		return nil, errors.New("no ASN file")
	}
	db := &asnDB{orgs: []string{""}, names: map[uint32]uint32{}}
	index := map[string]uint32{"": 0}
	for _, p := range paths {
		if err := db.readCSV(p, index); err != nil {
			return nil, err
		}
	}
	db.overlaps = db.ranges.seal()
	if len(db.ranges.v4)+len(db.ranges.v6) == 0 {
		return nil, errors.New("ASN data holds no range")
	}
	return db, nil
}

func (db *asnDB) readCSV(path string, index map[string]uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.FieldsPerRecord = 4
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		first, err1 := netip.ParseAddr(rec[0])
		last, err2 := netip.ParseAddr(rec[1])
		asn, err3 := strconv.ParseUint(rec[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			return fmt.Errorf("%s:%d: want first address, last address, AS number, organisation", path, line)
		}
		org, ok := index[rec[3]]
		if !ok {
			org = uint32(len(db.orgs))
			db.orgs = append(db.orgs, rec[3]) // rec[3] is a fresh string: ReuseRecord reuses the slice only
			index[rec[3]] = org
		}
		if _, ok := db.names[uint32(asn)]; !ok && org != 0 {
			db.names[uint32(asn)] = org
		}
		if err := db.ranges.add(first, last, uint32(asn), org); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}
