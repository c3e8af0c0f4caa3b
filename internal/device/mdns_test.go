package device_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMDNSInNamespaces: two devices in two network namespaces joined by a
// veth pair (private addresses that exist only inside them) find each other
// by mDNS alone (no DHT, no static peer): one shares its contact link, the
// other requests it, the request is accepted, and they chat. The namespaces are removed afterwards. It needs
// root and iproute2; .ci/run provides both.
func TestMDNSInNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command (.ci/run installs it)")
	}
	id := rand.IntN(1 << 20)
	nsA, nsB := fmt.Sprintf("bgo%x-a", id), fmt.Sprintf("bgo%x-b", id)
	vA, vB := fmt.Sprintf("bgo%xa", id), fmt.Sprintf("bgo%xb", id)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", nsA); err != nil {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	t.Cleanup(func() { ip("netns", "del", nsA) })
	if err := ip("netns", "add", nsB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("netns", "del", nsB) })
	for _, args := range [][]string{
		{"link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB},
		{"-n", nsA, "addr", "add", "10.231.7.1/24", "dev", vA},
		{"-n", nsB, "addr", "add", "10.231.7.2/24", "dev", vB},
		{"-n", nsA, "link", "set", vA, "up"},
		{"-n", nsB, "link", "set", vB, "up"},
		{"-n", nsA, "link", "set", "lo", "up"},
		{"-n", nsB, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
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
