package nginx

import (
	"testing"

	"github.com/refedge/refedge/internal/clustertest"
)

// TestMain removes the refedge binary the routing tests built (clustertest.Binary).
func TestMain(m *testing.M) { clustertest.Main(m) }
