package device_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
)

// linkDevice makes a new device of x's account through the linking
// protocol over loopback: the new device shows its link, x approves it.
func linkDevice(t *testing.T, x *dev, name string) *dev {
	t.Helper()
	nd := &dev{t: t, name: name, path: filepath.Join(t.TempDir(), name+".db")}
	shown := make(chan string, 1)
	type result struct {
		d   *device.Device
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := device.Link(context.Background(), device.LinkConfig{
			Config: device.Config{Path: nd.path,
				Net:       p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, SyncInterval: time.Hour, Peers: []string{x.d.Host.Addrs()[0]}},
				Node:      node.Config{Deliver: func(node.Delivery) { nd.bump() }, Events: func([32]byte, replica.Event) { nd.bump() }},
				OnReceive: nd.bump, OnChange: nd.bump},
			DeviceName: name,
			Show:       func(l *link.Device) { shown <- l.Compact() },
		})
		done <- result{d, err}
	}()
	l, err := link.ParseDevice(<-shown)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != name {
		t.Errorf("the link names the device %q, want %q", l.Name, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	approved, err := x.d.Approve(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if approved != r.d.Node.DeviceKey() {
		t.Errorf("Approve names device %x, the new device is %x", approved[:4], r.d.Node.DeviceKey())
	}
	nd.d = r.d
	t.Cleanup(nd.stop)
	return nd
}

// TestLinkDevice: alice links a second device. It gets her account (same
// key, her name), its own device key, and joins her contact with bob and her
// group; it chats from there in both directions. Then alice revokes it: it
// learns so, cannot send, and does not read what is written afterwards.
func TestLinkDevice(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	connect(t, bob, alice)
	if _, err := bob.d.RequestContact(alice.link()); err != nil {
		t.Fatal(err)
	}
	alice.until("bob's request", func() bool { return alice.contactState(bob) != 0 })
	if err := alice.d.Node.AcceptContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	chat(t, alice, bob)
	ct := contactTopic(t, alice, bob)
	gt := group(t, alice, bob)

	phone := linkDevice(t, alice, "phone")
	if phone.d.Node.AccountKey() != alice.d.Node.AccountKey() || phone.d.Node.DeviceKey() == alice.d.Node.DeviceKey() {
		t.Fatal("the linked device does not share the account or shares the device key")
	}
	if phone.d.Node.Name() != "alice" {
		t.Errorf("the linked device's account name is %q", phone.d.Node.Name())
	}
	phone.until("bob as a contact", func() bool { return phone.contactState(bob) == state.ContactAccepted })
	phone.until("the conversation's history", func() bool { return slices.Contains(phone.bodies(ct), "hi alice") })
	// In the group, the phone counts once alice's device has read the key
	// it recorded there on the account group and approved it (§5.4, §5.7).
	// It writes once it also counts bob: a chain it hands out before it has
	// read the record that lets bob in would leave him out of what it
	// writes until then (a known limit, docs/protocol.md §9).
	phone.until("the phone to count in the group, and to count bob", func() bool {
		gi, err := phone.d.Node.Group(gt)
		if err != nil || len(gi.Members) != 2 {
			return false
		}
		mk, _ := phone.d.Node.MemberKey(gt)
		m, _ := gi.Member(mk)
		return m.Devices == 2
	})
	for _, topic := range [][32]byte{ct, gt} {
		if _, err := phone.d.Node.Send(topic, []byte("from alice's phone")); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.d.Node.Send(topic, []byte("bob to both")); err != nil {
			t.Fatal(err)
		}
		bob.until("the phone's message", func() bool { return slices.Contains(bob.bodies(topic), "from alice's phone") })
		phone.until("bob's message", func() bool { return slices.Contains(phone.bodies(topic), "bob to both") })
		alice.until("the phone's message", func() bool { return slices.Contains(alice.bodies(topic), "from alice's phone") })
	}
	if ds := alice.d.Node.Devices(); len(ds) != 2 {
		t.Fatalf("alice sees %d devices", len(ds))
	}

	first := alice.d.Node.AccountKey()
	if err := alice.d.RevokeDevice(phone.d.Node.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	phone.until("the revocation", phone.d.Node.Revoked)
	// The account moved to a new key (§5.9), which bob learns through
	// their contact group and the phone never sees.
	next := alice.d.Node.AccountKey()
	if next == first {
		t.Fatal("the revocation did not move alice's account to a new key")
	}
	bob.until("alice's new key", func() bool { return bob.d.Node.ContactKey(first) == next })
	if phone.d.Node.AccountKey() != first {
		t.Error("the revoked phone knows alice's new account key")
	}
	// bob writes once he has applied the revocation in both groups: what he
	// writes before that is still sealed to the phone's chain.
	for _, topic := range [][32]byte{ct, gt} {
		bob.until("the revocation at bob", func() bool {
			gi, err := bob.d.Node.Group(topic)
			if err != nil {
				return false
			}
			devices := 0
			for _, m := range gi.Members {
				devices += m.Devices
			}
			return devices == 2 // bob's and alice's first device
		})
	}
	if _, err := phone.d.Node.Send(ct, []byte("x")); !errors.Is(err, node.ErrRevoked) {
		t.Errorf("the revoked phone sends: %v", err)
	}
	for _, topic := range [][32]byte{ct, gt} {
		if _, err := bob.d.Node.Send(topic, []byte("after the revocation")); err != nil {
			t.Fatal(err)
		}
		alice.until("bob's last message", func() bool { return slices.Contains(alice.bodies(topic), "after the revocation") })
		// The phone, still connected to alice, is served only what sorts up
		// to its revocation (§10.2; TestRemovedMemberIsCutOffTheNetwork
		// checks the entries themselves), and reads nothing written after.
		base := alice.d.Host.Stats().SyncCut
		phone.d.Host.SyncNow(topic)
		alice.until("the phone's sync", func() bool { return alice.d.Host.Stats().SyncCut > base })
		if slices.Contains(phone.bodies(topic), "after the revocation") {
			t.Errorf("the revoked phone reads a message written after its revocation")
		}
	}
}

// TestLinkNeedsAnEmptyDirectory: linking on a data directory that holds an
// account is refused before anything is shown.
func TestLinkNeedsAnEmptyDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	st, err := device.OpenStore(device.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(node.Config{Store: st, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	st.Close()
	_, err = device.Link(context.Background(), device.LinkConfig{Config: device.Config{Path: path},
		Show: func(*link.Device) { t.Error("a link was shown") }})
	if !errors.Is(err, device.ErrHasAccount) {
		t.Fatalf("Link = %v, want ErrHasAccount", err)
	}
}

// TestLinkExpires: nobody approves; the new device gives up when its link
// expires and says so, and the directory holds no account.
func TestLinkExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	_, err := device.Link(context.Background(), device.LinkConfig{TTL: 50 * time.Millisecond,
		Config: device.Config{Path: path, Net: p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}}})
	if !errors.Is(err, device.ErrLinkExpired) {
		t.Fatalf("Link = %v, want ErrLinkExpired", err)
	}
	st, err := device.OpenStore(device.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Account(); err == nil {
		t.Error("an expired link left an account behind")
	}
}

// TestApproveNotStoppedByAPeerInTheWay: any peer the approving device is
// connected to gets asked at the link's point, and mallory answers every
// point with junk. Her failed handshake is not the new device refusing (the
// new device would know the link's key): the approval goes on until it
// reaches the phone. Before, the first such answer ended it ("the new device
// refused the link").
func TestApproveNotStoppedByAPeerInTheWay(t *testing.T) {
	alice := newDev(t, "alice")
	m, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.SetStreamHandler(p2p.ProtocolPoints, func(s network.Stream) {
		defer s.Close()
		var h [2]byte
		for range 2 { // the point, then the approver's first message
			if _, err := io.ReadFull(s, h[:]); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, s, int64(binary.BigEndian.Uint16(h[:]))); err != nil {
				return
			}
		}
		s.Write(append([]byte{0, 48}, make([]byte, 48)...)) // junk for an answer
	})
	ai, err := peer.AddrInfoFromString(alice.d.Host.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Connect(t.Context(), *ai); err != nil {
		t.Fatal(err)
	}
	phone := linkDevice(t, alice, "phone")
	if phone.d.Node.AccountKey() != alice.d.Node.AccountKey() {
		t.Fatal("the phone is not alice's")
	}
}
