package p2p

import (
	"bytes"
	"testing"

	"github.com/berty-go/berty/core/keys"
)

// keySource signs sync statements with whatever key it holds now.
type keySource struct {
	Source
	key   *keys.Pair
	signs int
}

func (s *keySource) SignSync(_ [32]byte, st []byte) (keys.Public, []byte, error) {
	s.signs++
	return s.key.Public(), s.key.Sign(st), nil
}

func (s *keySource) DeviceKeyIn([32]byte) (keys.Public, error) { return s.key.Public(), nil }

// TestSyncSigsFollowTheDeviceKey: the cache of signed sync statements
// saves a signature per sync between the same two peers, but a device that
// joined a group again writes with a new key (protocol §3.2): the statement
// it signs after must name and be signed by the new key, not come back from
// the cache under the old one — which members serve only up to its cut-off.
// (Before the fix the rejoined device synced for ever as its old self.)
func TestSyncSigsFollowTheDeviceKey(t *testing.T) {
	var c syncSigs
	topic, st := [32]byte{1}, []byte("the same statement, sync after sync")
	old, next := keys.FromSeed([32]byte{2}), keys.FromSeed([32]byte{3})
	src := &keySource{key: old}
	for range 3 {
		if d, sig, err := c.sign(src, topic, st); err != nil || d != old.Public() || !bytes.Equal(sig, old.Sign(st)) {
			t.Fatalf("sign: %x, %v", d[:4], err)
		}
	}
	if src.signs != 1 {
		t.Errorf("%d signatures for one statement, want 1 (the cache)", src.signs)
	}
	src.key = next
	d, sig, err := c.sign(src, topic, st)
	if want := next.Public(); err != nil || d != want || !bytes.Equal(sig, next.Sign(st)) {
		t.Errorf("after the key changed: signed by %x (%v), want the new key %x", d[:4], err, want[:4])
	}
}
