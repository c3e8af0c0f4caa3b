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

// Internet is a small internet made of network namespaces: one "public"
// namespace (where servers run, and through which the homes reach each
// other) and homes, each a private network behind its own NAT router
// (nftables masquerade: outbound connections only, as a home router
// allows). Every address exists only inside the namespaces.
type Internet struct {
	// Public is the public namespace; PublicIP its address on home i's
	// side is 10.232.(i+1).1 (every one reaches it).
	Public   string
	PublicIP string
	// Homes are the home namespaces; home i has 192.168.(i+1).2, behind a
	// router whose public address is 10.232.(i+1).2.
	Homes []string
}

// NewInternet makes an Internet with n homes (n ≤ 9) and removes it when
// the test ends. It needs root, iproute2 and nftables' nft (.ci/run
// installs them); without them it skips the test.
func NewInternet(t testing.TB, n int) Internet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("needs %s (.ci/run installs iproute2 and nftables)", c)
		}
	}
	id := rand.IntN(1 << 20)
	ns := func(role string) string {
		name := fmt.Sprintf("bgo%x-%s", id, role)
		if err := ip("netns", "add", name); err != nil {
			t.Skipf("cannot create network namespaces here: %v", err)
		}
		t.Cleanup(func() { ip("netns", "del", name) })
		return name
	}
	run := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	in := Internet{Public: ns("pub"), PublicIP: "10.232.1.1"}
	run("-n", in.Public, "link", "set", "lo", "up")
	sysctl(t, in.Public, "net/ipv4/ip_forward", "1")
	for i := range n {
		router, home := ns(fmt.Sprintf("r%d", i)), ns(fmt.Sprintf("h%d", i))
		in.Homes = append(in.Homes, home)
		pub, wan := fmt.Sprintf("bgo%xp%d", id, i), fmt.Sprintf("bgo%xw%d", id, i)
		lan, eth := fmt.Sprintf("bgo%xl%d", id, i), fmt.Sprintf("bgo%xe%d", id, i)
		for _, args := range [][]string{
			{"link", "add", pub, "netns", in.Public, "type", "veth", "peer", "name", wan, "netns", router},
			{"link", "add", lan, "netns", router, "type", "veth", "peer", "name", eth, "netns", home},
			{"-n", in.Public, "addr", "add", fmt.Sprintf("10.232.%d.1/24", i+1), "dev", pub},
			{"-n", router, "addr", "add", fmt.Sprintf("10.232.%d.2/24", i+1), "dev", wan},
			{"-n", router, "addr", "add", fmt.Sprintf("192.168.%d.1/24", i+1), "dev", lan},
			{"-n", home, "addr", "add", fmt.Sprintf("192.168.%d.2/24", i+1), "dev", eth},
			{"-n", in.Public, "link", "set", pub, "up"},
			{"-n", router, "link", "set", wan, "up"},
			{"-n", router, "link", "set", lan, "up"},
			{"-n", router, "link", "set", "lo", "up"},
			{"-n", home, "link", "set", eth, "up"},
			{"-n", home, "link", "set", "lo", "up"},
			{"-n", router, "route", "add", "default", "via", fmt.Sprintf("10.232.%d.1", i+1)},
			{"-n", home, "route", "add", "default", "via", fmt.Sprintf("192.168.%d.1", i+1)},
		} {
			run(args...)
		}
		sysctl(t, router, "net/ipv4/ip_forward", "1")
		for _, rule := range [][]string{
			{"add", "table", "ip", "nat"},
			{"add", "chain", "ip", "nat", "post", "{ type nat hook postrouting priority 100 ; }"},
			{"add", "rule", "ip", "nat", "post", "oifname", wan, "masquerade"},
		} {
			if out, err := exec.Command("ip", append([]string{"netns", "exec", router, "nft"}, rule...)...).CombinedOutput(); err != nil {
				t.Skipf("nftables NAT is not available here: nft %s: %v: %s", strings.Join(rule, " "), err, out)
			}
		}
	}
	return in
}

func sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo "+value+" > /proc/sys/"+key).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s in %s: %v: %s", key, ns, err, out)
	}
}
