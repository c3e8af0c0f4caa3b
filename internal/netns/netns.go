// Package netns gives tests two network namespaces joined by a veth pair:
// two hosts on one private link, so that what crosses a network (mDNS
// multicast, dials to private addresses) never touches a real network card.
// It needs root and iproute2's ip command (.ci/run installs it); without
// them, or where namespaces cannot be made, the test is skipped.
package netns

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Pair creates two namespaces whose veth ends carry 10.231.subnet.1/24 and
// 10.231.subnet.2/24, with loopback up in both, and removes them when the
// test ends. It returns their names, for `ip netns exec NAME …`.
func Pair(t testing.TB, subnet int) (a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command (.ci/run installs it)")
	}
	id := rand.IntN(1 << 20)
	a, b = fmt.Sprintf("bgo%x-a", id), fmt.Sprintf("bgo%x-b", id)
	va, vb := fmt.Sprintf("bgo%xa", id), fmt.Sprintf("bgo%xb", id)
	if err := ip("netns", "add", a); err != nil {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	t.Cleanup(func() { ip("netns", "del", a) })
	if err := ip("netns", "add", b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("netns", "del", b) })
	for _, args := range [][]string{
		{"link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b},
		{"-n", a, "addr", "add", fmt.Sprintf("10.231.%d.1/24", subnet), "dev", va},
		{"-n", b, "addr", "add", fmt.Sprintf("10.231.%d.2/24", subnet), "dev", vb},
		{"-n", a, "link", "set", va, "up"},
		{"-n", b, "link", "set", vb, "up"},
		{"-n", a, "link", "set", "lo", "up"},
		{"-n", b, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
