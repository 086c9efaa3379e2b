// Package ipinteltest gives tests the IP databases deploy/scripts/geo-data.sh installs,
// loaded into one ipintel.Service per test binary (a load takes about a second).
package ipinteltest

import (
	"sync"
	"testing"

	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/testenv"
)

var (
	once sync.Once
	svc  *ipintel.Service
	err  error
)

// Service returns the shared service over the installed databases, with no operator
// lists. Without the databases it fails the test under CI and skips it elsewhere
// (testenv.GeoData).
func Service(t testing.TB) *ipintel.Service {
	t.Helper()
	country, asn := testenv.GeoData(t)
	once.Do(func() { svc, err = ipintel.New(ipintel.Config{CountryDB: country, ASNDBs: asn}, nil) })
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
