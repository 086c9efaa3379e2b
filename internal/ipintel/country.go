package ipintel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/oschwald/maxminddb-golang/v2"
)

// countryDB answers countries from a MaxMind-format database. Such a database stores
// each distinct record once (a few hundred for a country database), so the records are
// decoded once at load into a map by their offset; a lookup walks the search tree and
// reads the map, allocating nothing.
type countryDB struct {
	r     *maxminddb.Reader
	codes map[uintptr]string
}

// loadCountry reads a .mmdb file whose records carry country_code (or, as in MaxMind's
// GeoIP2 and GeoLite2 Country, country.iso_code). The file is read into memory rather
// than mapped, so a database replaced by a reload is freed by the garbage collector once
// no lookup uses it.
func loadCountry(path string) (*countryDB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db := &countryDB{r: r, codes: map[uintptr]string{}}
	interned := map[string]string{}
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		off := res.Offset()
		if _, ok := db.codes[off]; ok {
			continue
		}
		var code string
		if err := res.DecodePath(&code, "country_code"); err != nil || code == "" {
			if err := res.DecodePath(&code, "country", "iso_code"); err != nil {
				return nil, fmt.Errorf("%s: record of %s: %w", path, res.Prefix(), err)
			}
		}
		if len(code) != 2 {
			code = "" // no country, or a placeholder the data uses for none
		}
		if s, ok := interned[code]; ok {
			code = s
		} else {
			interned[code] = code
		}
		db.codes[off] = code
	}
	if len(interned) == 0 {
		return nil, errors.New(path + ": no country record")
	}
	return db, nil
}

// lookup returns ip's country code, or "".
func (db *countryDB) lookup(ip netip.Addr) string {
	res := db.r.Lookup(ip)
	if !res.Found() {
		return ""
	}
	return db.codes[res.Offset()]
}
