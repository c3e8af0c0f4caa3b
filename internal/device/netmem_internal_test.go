package device

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
)

// TestRememberedPeersAreForgotten: a peer not met again is remembered for
// rememberFor, then forgotten; one met again is remembered from then on.
func TestRememberedPeersAreForgotten(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	clock := func() time.Time { return now }
	got := make(chan struct{}, 16)
	open := func(name string) *Device {
		d, err := Open(Config{Path: filepath.Join(dir, name+".db"), Name: name,
			Net: p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, SyncInterval: time.Hour},
			Node: node.Config{Now: func() time.Time { return clock() }, Deliver: func(node.Delivery) {
				select {
				case got <- struct{}{}:
				default:
				}
			}}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// remembered reads, from a closed device's database, the peers it
	// remembers.
	remembered := func(name string) []string {
		st, err := OpenStore(Config{Path: filepath.Join(dir, name+".db")})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m, err := loadNet(st)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range m.Peers {
			ids = append(ids, p.ID)
		}
		return ids
	}
	a, b := open("a"), open("b")
	defer b.Close()
	if err := a.Host.Connect(context.Background(), b.Host.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	topic, err := a.Node.AddContact(b.Node.AccountKey(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Node.AddContact(a.Node.AccountKey(), "a"); err != nil {
		t.Fatal(err)
	}
	// A message from a reaches b: by gossip (which a sends only to peers
	// that proved the group's key) or by a sync (where b proves it).
	if _, err := a.Node.Send(topic, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("b never got a's message")
	}
	a.Close()
	b.Close()
	bID := b.Host.ID().String()

	// A month later, b not running: a still has it the day before the
	// limit, and forgets it after.
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{rememberFor - 24*time.Hour, true}, {rememberFor + time.Hour, false}} {
		now = time.Now().Add(tc.after)
		a = open("a")
		a.Close()
		if got := slices.Contains(remembered("a"), bID); got != tc.want {
			t.Errorf("%v later, b remembered: %v, want %v", tc.after, got, tc.want)
		}
	}
}
