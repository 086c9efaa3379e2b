package main

import (
	"testing"

	"github.com/refedge/refedge/internal/clustertest"
)

// TestMain removes the refedge binary the end-to-end tests built (clustertest.Binary).
func TestMain(m *testing.M) { clustertest.Main(m) }
