package device_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/wait"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dev is a real device (SQLite + libp2p on loopback) that can be restarted.
type dev struct {
	t    testing.TB
	name string
	path string
	d    *device.Device
	w    wait.Cond // signalled on every delivery, event and receive
	opt  func(*device.Config)
}

func newDev(t testing.TB, name string) *dev { return newDevWith(t, name, nil) }

// newDevWith is newDev with a change to the device's configuration.
func newDevWith(t testing.TB, name string, opt func(*device.Config)) *dev {
	x := &dev{t: t, name: name, path: filepath.Join(t.TempDir(), name+".db"), opt: opt}
	x.start()
	t.Cleanup(func() { x.stop() })
	return x
}

func (x *dev) bump() { x.w.Signal() }

func (x *dev) start() {
	cfg := device.Config{Path: x.path, Name: x.name,
		Net:       p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, SyncInterval: time.Hour, Observe: func(p2p.Event) { x.bump() }},
		Node:      node.Config{Deliver: func(node.Delivery) { x.bump() }, Events: func([32]byte, replica.Event) { x.bump() }},
		OnReceive: x.bump, OnChange: x.bump}
	if x.opt != nil {
		x.opt(&cfg)
	}
	d, err := device.Open(cfg)
	if err != nil {
		x.t.Fatal(err)
	}
	x.d = d
}

func (x *dev) stop() {
	if x.d != nil {
		x.d.Close()
		x.d = nil
	}
}

func (x *dev) restart() { x.stop(); x.start() }

// until waits (re-checking on every delivery) for ok, or fails at a deadline.
func (x *dev) until(what string, ok func() bool) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.w.Until(ctx, ok); err != nil {
		if x.d != nil {
			x.t.Logf("%s at timeout: %d peers, stats %+v", x.name, len(x.d.Host.Peers()), x.d.Host.Stats())
		}
		x.t.Fatalf("%s: timed out waiting for %s", x.name, what)
	}
}

func (x *dev) count(topic [32]byte) int {
	n, _ := x.d.Store.CountMessages(topic)
	return n
}

func (x *dev) bodies(topic [32]byte) []string {
	ms, err := x.d.Node.Messages(topic, store.Cursor{}, 1<<20)
	if err != nil {
		x.t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}

// groupDevice returns the key x writes with in a group.
func (x *dev) groupDevice(t *testing.T, topic [32]byte) keys.Public {
	t.Helper()
	k, err := x.d.Node.DeviceKeyIn(topic)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func connect(t *testing.T, a, b *dev) {
	t.Helper()
	if err := a.d.Host.Connect(context.Background(), b.d.Host.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
}

func send(t *testing.T, x *dev, topic [32]byte, prefix string, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		var b [][]byte
		for j := i; j < min(i+batch, n); j++ {
			b = append(b, []byte(fmt.Sprintf("%s %d", prefix, j)))
		}
		if _, err := x.d.Node.SendBatch(topic, b); err != nil {
			t.Fatal(err)
		}
	}
}

// group makes a group of the devices, everyone connected, everyone in.
func group(t *testing.T, ds ...*dev) [32]byte {
	t.Helper()
	for i, a := range ds {
		for _, b := range ds[i+1:] {
			connect(t, a, b)
		}
	}
	gt, err := ds[0].d.Node.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ds[0].d.Node.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ds[1:] {
		if _, err := x.d.Node.Join(inv); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range ds {
		x.until("the whole group", func() bool {
			gi, err := x.d.Node.Group(gt)
			return err == nil && len(gi.Members) == len(ds)
		})
	}
	return gt
}

// TestPartitionAndHeal: carol is cut off — her host is down, her node keeps
// working and storing what she writes — while both sides write; when she is
// back, everyone converges to the same conversation.
func TestPartitionAndHeal(t *testing.T) {
	alice, bob, carol := newDev(t, "alice"), newDev(t, "bob"), newDev(t, "carol")
	gt := group(t, alice, bob, carol)
	if err := carol.d.Host.Close(); err != nil { // the partition
		t.Fatal(err)
	}
	send(t, alice, gt, "alice during the partition", 50, 10)
	send(t, bob, gt, "bob during the partition", 50, 10)
	send(t, carol, gt, "carol during the partition", 50, 10)
	bob.until("alice's messages", func() bool { return bob.count(gt) == 100 })
	if n := carol.count(gt); n != 50 {
		t.Fatalf("carol holds %d messages during the partition, want only her own 50", n)
	}
	carol.restart()          // back on the network, same store
	connect(t, carol, alice) // heal through alice only: bob gets carol's entries relayed
	for _, x := range []*dev{alice, bob, carol} {
		x.until("convergence", func() bool { return x.count(gt) == 150 })
	}
	want := alice.bodies(gt)
	for _, x := range []*dev{bob, carol} {
		if got := x.bodies(gt); !slices.Equal(got, want) {
			t.Errorf("%s's conversation differs from alice's after healing", x.name)
		}
	}
}

// TestRestartMidBurst: the sender and then the receiver stop in the middle
// of a burst and restart from their SQLite files: nothing acknowledged is
// lost, no seq is reused, everything arrives.
func TestRestartMidBurst(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	gt := group(t, alice, bob)
	send(t, alice, gt, "first half", 1000, 100)
	alice.restart() // the sender goes down with part of the burst possibly unsent
	if n := alice.count(gt); n != 1000 {
		t.Fatalf("alice holds %d of her 1000 acknowledged messages after restarting", n)
	}
	connect(t, alice, bob)
	send(t, alice, gt, "second half", 1000, 100)
	bob.restart() // the receiver goes down mid-way
	connect(t, bob, alice)
	bob.until("the whole burst", func() bool { return bob.count(gt) == 2000 })
	v, _ := alice.d.Node.Vector(gt)
	vb, _ := bob.d.Node.Vector(gt)
	if fmt.Sprint(v) != fmt.Sprint(vb) {
		t.Errorf("vectors differ after the restarts: alice %v, bob %v", v, vb)
	}
}
