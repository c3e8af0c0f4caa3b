package device_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TestRestartKeepsPortAndFindsPeers: a device listening on port 0 gets the
// same port at its next start (so the addresses its contacts hold stay
// good), and two devices that both restart, with no static peer, no DHT
// and no mDNS, find each other again from what they remember of each other
// (protocol §10.4).
func TestRestartKeepsPortAndFindsPeers(t *testing.T) {
	a, b := newDev(t, "a"), newDev(t, "b")
	topic := group(t, a, b)
	send(t, a, topic, "before", 1, 1)
	b.until("the first message", func() bool { return b.count(topic) == 1 })
	before := a.d.Host.ListenAddrs()

	a.stop()
	b.stop()
	b.start() // dials a, which is not there yet: it keeps trying
	a.start()
	if after := a.d.Host.ListenAddrs(); !slices.Equal(before, after) {
		t.Errorf("a listened on %v, and after a restart on %v", before, after)
	}
	send(t, a, topic, "after", 1, 1)
	b.until("the message after both restarted", func() bool { return b.count(topic) == 2 })
}

// TestRememberedPortTaken: when the port a device had is taken, it starts
// on a new one rather than not at all.
func TestRememberedPortTaken(t *testing.T) {
	a := newDev(t, "a")
	addr := a.d.Host.ListenAddrs()[0]
	a.stop()
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, hostport, err := manet.DialArgs(m)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a.start()
	got := a.d.Host.ListenAddrs()
	if len(got) != 1 || got[0] == addr || !strings.HasPrefix(got[0], "/ip4/127.0.0.1/tcp/") {
		t.Errorf("with %s taken, a listens on %v", addr, got)
	}
}
