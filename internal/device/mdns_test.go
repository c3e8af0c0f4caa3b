package device_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berty-go/berty/internal/netns"
)

// TestMDNSInNamespaces: two devices in two network namespaces joined by a
// veth pair (private addresses that exist only inside them) find each other
// by mDNS alone (no DHT, no static peer): one shares its contact link, the
// other requests it, the request is accepted, and they chat. The namespaces
// (internal/netns) need root and iproute2, which .ci/run provides.
func TestMDNSInNamespaces(t *testing.T) {
	nsA, nsB := netns.Pair(t, 7)
	dir := t.TempDir()
	probe := filepath.Join(dir, "mdnsprobe")
	if out, err := exec.Command("go", "build", "-o", probe, "./testdata/mdnsprobe").CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i, ns := range []string{nsA, nsB} {
		name, other := "a", "b"
		if i == 1 {
			name, other = "b", "a"
		}
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, probe, dir, name, other)
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			errs[i] = cmd.Run()
		})
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Errorf("device %d: %v: %s", i, errs[i], outs[i].String())
		} else {
			t.Log(strings.TrimSpace(outs[i].String()))
		}
	}
}
