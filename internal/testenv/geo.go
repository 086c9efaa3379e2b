package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// GeoHint tells a developer how to get the IP databases.
const GeoHint = "run `deploy/scripts/geo-data.sh fetch` (make test does)"

// GeoData returns the IP databases deploy/scripts/geo-data.sh installs: the country
// .mmdb file and the ASN CSV files (IPv4, IPv6). The folder is REFEDGE_TEST_GEO_DIR, or
// the script's default <repo>/.run/geo. Missing files fail the test under CI=true and
// skip it otherwise ([Required]).
func GeoData(t testing.TB) (countryDB string, asnDBs []string) {
	t.Helper()
	dir := os.Getenv("REFEDGE_TEST_GEO_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", ".run", "geo")
	}
	countryDB = filepath.Join(dir, "geo-whois-asn-country.mmdb")
	asnDBs = []string{filepath.Join(dir, "asn-ipv4.csv"), filepath.Join(dir, "asn-ipv6.csv")}
	for _, p := range append([]string{countryDB}, asnDBs...) {
		if _, err := os.Stat(p); err != nil {
			Required(t, "the IP database "+p, GeoHint)
		}
	}
	return countryDB, asnDBs
}
