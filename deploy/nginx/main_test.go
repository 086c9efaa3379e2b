package nginx

import (
	"os"
	"testing"

	"github.com/refedge/refedge/internal/clustertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clustertest.RemoveBinary()
	os.Exit(code)
}
