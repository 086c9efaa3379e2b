package ipintel

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// countryDB answers countries from the networks of a MaxMind-format database, copied at
// load into the same sorted range table as the ASN data: walking the .mmdb search tree
// for every click costs several times a range search, and a table of ranges needs no
// decoding per lookup. Adjacent networks of one country are merged into one range.
type countryDB struct {
	ranges rangeTable
	codes  []string // by index; 0 is "" (no country)
	// networks counts the database's networks before merging.
	networks int
}

// loadCountry reads a .mmdb file whose records carry country_code (or, as MaxMind's
// GeoIP2 and GeoLite2 Country do, country.iso_code).
func loadCountry(path string) (*countryDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	db := &countryDB{codes: []string{""}}
	index := map[string]uint32{"": 0}
	byOffset := map[uintptr]uint32{} // a database stores each distinct record once
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		db.networks++
		code, ok := byOffset[res.Offset()]
		if !ok {
			var s string
			if err := res.DecodePath(&s, "country_code"); err != nil || s == "" {
				if err := res.DecodePath(&s, "country", "iso_code"); err != nil {
					return nil, fmt.Errorf("%s: record of %s: %w", path, res.Prefix(), err)
				}
			}
			if len(s) != 2 {
				s = "" // no country, or a placeholder for none
			}
			if code, ok = index[s]; !ok {
				code = uint32(len(db.codes))
				db.codes = append(db.codes, s)
				index[s] = code
			}
			byOffset[res.Offset()] = code
		}
		p := res.Prefix()
		if err := db.ranges.add(p.Addr(), lastAddr(p.Masked()), code, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(db.codes) < 2 {
		return nil, errors.New(path + ": no country record")
	}
	db.ranges.seal()
	db.ranges.mergeAdjacent()
	return db, nil
}

// lookup returns ip's country code, or "".
func (db *countryDB) lookup(ip netip.Addr) string {
	code, _, _ := db.ranges.find(ip)
	return db.codes[code]
}
