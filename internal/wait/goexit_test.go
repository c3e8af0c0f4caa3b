package wait

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestUntilGoexitInCheck: a check may end its goroutine — a test's check
// that calls t.Fatal does (runtime.Goexit) — and Until must let it, not
// crash the whole test binary on its way out ("sync: unlock of unlocked
// mutex", which no recover or cleanup survives). It runs in a child
// process, since the failure it looks for is such a crash.
func TestUntilGoexitInCheck(t *testing.T) {
	if os.Getenv("WAIT_TEST_GOEXIT_CHILD") == "1" {
		var w Cond
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Until(context.Background(), func() bool { runtime.Goexit(); return false })
		}()
		<-done
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUntilGoexitInCheck$", "-test.count=1")
	// (GORACE: a -race child would otherwise sleep 1 s at exit.)
	cmd.Env = append(os.Environ(), "WAIT_TEST_GOEXIT_CHILD=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("a check that ended its goroutine crashed the process (%v):\n%s", err, out)
	}
}
