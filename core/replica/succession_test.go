package replica

import (
	"errors"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
)

// TestRevokedDeviceDoesNotLearnTheNewAccountKey (§5.9): alice's first
// device revokes the second on the account group and moves the account to
// a new key. The record with the new seed is sealed in the epoch the
// revocation opened: the third device reads it, the revoked one — which
// receives every entry — does not, so it cannot sign as the new key.
func TestRevokedDeviceDoesNotLearnTheNewAccountKey(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		f := newRevokeFixture(t, group.KindAccount, seed)
		f.revoke(f.d1, f.d2)
		next := f.c.newKey()
		s := next.Seed()
		ev := &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(f.aliceAcct, next), Seed: &s}}
		if err := f.d1.r.Post(ev, f.d1.lk); err != nil {
			t.Fatal(err)
		}
		f.c.flush(f.d1)
		f.c.sync()
		if got := f.other.r.State().CurrentKey(f.alice()); got != next.Public() {
			t.Fatalf("seed %d: the third device has the account key %v, want %v", seed, got, next.Public())
		}
		if seeds := f.other.r.State().AccountSeeds(); seeds[next.Public()] != s {
			t.Fatalf("seed %d: the third device does not hold the new seed", seed)
		}
		if h := f.d2.r.Heads()[f.d1.r.DeviceKey()]; h.Seq != f.d1.r.Heads()[f.d1.r.DeviceKey()].Seq {
			t.Fatalf("seed %d: the revoked device did not receive the record (head %d)", seed, h.Seq)
		}
		if got := f.d2.r.State().CurrentKey(f.alice()); got != f.alice() {
			t.Fatalf("seed %d: the revoked device learnt the new account key %v", seed, got)
		}
		if seeds := f.d2.r.State().AccountSeeds(); len(seeds) != 0 {
			t.Fatalf("seed %d: the revoked device holds %d account seeds", seed, len(seeds))
		}
	}
}

// TestPostSuccessionChecks: a record that would not count is refused
// locally, with a reason: from a key the member has left, with a seed
// outside the account group, without one in it.
func TestPostSuccessionChecks(t *testing.T) {
	f := newRevokeFixture(t, group.KindContact, 1)
	k1, k2 := f.c.newKey(), f.c.newKey()
	post := func(p *peer, ev *state.Event) error { return p.r.Post(ev, p.lk) }
	if err := post(f.d1, &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(f.aliceAcct, k1)}}); err != nil {
		t.Fatal(err)
	}
	if err := post(f.d1, &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(f.aliceAcct, k2)}}); !errors.Is(err, ErrNotCurrentKey) {
		t.Errorf("a second record from the first key: %v, want ErrNotCurrentKey", err)
	}
	s := k2.Seed()
	if err := post(f.d1, &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(k1, k2), Seed: &s}}); err == nil {
		t.Error("a record with a seed posted in a contact group")
	}
	a := newRevokeFixture(t, group.KindAccount, 1)
	if err := post(a.d1, &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(a.aliceAcct, k1)}}); err == nil {
		t.Error("a record without its seed posted in the account group")
	}
}
