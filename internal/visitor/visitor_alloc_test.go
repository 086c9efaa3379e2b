//go:build !race

package visitor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/signing"
)

func TestAppendHashDoesNotAllocate(t *testing.T) {
	kr := signing.MustKeyring("visitor-test-secret-0123456789")
	day := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.7")
	scratch := make([]byte, 0, 128)
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst, scratch = AppendHash(dst[:0], scratch, kr, day, ip, []byte("ua")) }); n != 0 {
		t.Fatalf("AppendHash allocates %v times", n)
	}
}
