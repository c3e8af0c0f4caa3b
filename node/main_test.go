package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the node's
// verification workers, memnet's delivery goroutines).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
