package state

import (
	"fmt"
	"github.com/berty-go/berty/core/keys"
	"math/rand/v2"
	"slices"
	"testing"
)

// sameInAnyOrder checks that every shuffle of ops, applied one by one, and
// the sorted order give the state Restore gives, and returns that state.
func sameInAnyOrder(t *testing.T, h *history) *State {
	t.Helper()
	ref := New(h.g)
	ref.Restore(h.ops)
	want := describe(ref, h.ops) + opsOf(ref)
	sorted := slices.Clone(h.ops)
	slices.SortFunc(sorted, func(a, b *Op) int {
		if opLess(a, b) {
			return -1
		}
		return 1
	})
	orders := [][]*Op{sorted}
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 40 {
		o := slices.Clone(h.ops)
		rnd.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		orders = append(orders, o)
	}
	for n, order := range orders {
		x := New(h.g)
		for _, o := range order {
			x.Apply(o)
		}
		if got := describe(x, h.ops) + opsOf(x); got != want {
			t.Fatalf("order %d gives another state.\nRestore:\n%s\norder:\n%s", n, want, got)
		}
	}
	return ref
}

// TestReducerSelfDefeatingRemoval: the regression a property-test seed
// found. Bob's removal of alice is valid only thanks to an admin grant of
// alice's that the removal itself cuts (a grant concurrent with it, sorting
// just before it). The fold does not settle; the result must still be the
// same in every order, later ops included.
func TestReducerSelfDefeatingRemoval(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev := h.key(), h.key()
	bob, bobDev := h.key(), h.key()
	carol, carolDev := h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	h.invited(alice, aliceDev, bob, bobDev, 2)
	h.invited(alice, aliceDev, carol, carolDev, 3)
	grant := h.add(aliceDev, 5, &Event{Admin: &AdminGranted{Member: bob.Public()}})
	grant.ID = [32]byte{1}
	cut := h.seq[aliceDev.Public()] - 1 // before the grant
	rm := h.add(bobDev, 5, &Event{Removed: &MemberRemoved{Member: alice.Public(), Cutoffs: []Cutoff{{Device: aliceDev.Public(), Seq: cut}}}})
	rm.ID = [32]byte{2}
	h.add(aliceDev, 6, &Event{Info: &GroupInfo{Name: "alice, later"}})
	h.add(aliceDev, 7, &Event{Admin: &AdminGranted{Member: carol.Public()}})
	h.add(carolDev, 8, &Event{Info: &GroupInfo{Name: "carol"}})
	sameInAnyOrder(t, h)
}

// TestReducerDeviceRevoked pins §5.6: alice's first device revokes her
// second; the second's ops past the cut-off stop counting, it leaves the
// active devices, and the result does not depend on the order.
func TestReducerDeviceRevoked(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev, aliceDev2 := h.key(), h.key(), h.key()
	bob, bobDev := h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	h.linked(alice, aliceDev, aliceDev2, 2)
	h.invited(alice, aliceDev, bob, bobDev, 3)
	h.add(aliceDev2, 4, &Event{Info: &GroupInfo{Name: "before the revocation"}})
	h.add(aliceDev, 5, &Event{Revoked: &DeviceRevoked{Device: aliceDev2.Public(), Seq: 2}})
	h.add(aliceDev2, 6, &Event{Info: &GroupInfo{Name: "after the revocation"}})
	h.add(aliceDev2, 7, &Event{Revoked: &DeviceRevoked{Device: aliceDev.Public(), Seq: 5}}) // too late
	h.add(bobDev, 8, &Event{Revoked: &DeviceRevoked{Device: aliceDev.Public(), Seq: 1}})    // not bob's device
	s := sameInAnyOrder(t, h)
	m := s.Member(alice.Public())
	if m == nil || m.Removed || !slices.Equal(m.Devices, []keys.Public{aliceDev.Public()}) || m.Revoked[aliceDev2.Public()] != 2 {
		t.Fatalf("alice %+v: want her first device only, the second revoked at 2", m)
	}
	if !s.Writable(aliceDev2.Public(), 2) || s.Writable(aliceDev2.Public(), 3) {
		t.Error("the revoked device's cut-off is not 2")
	}
	if s.Name() != "before the revocation" {
		t.Errorf("name %q: an op past the cut-off counted", s.Name())
	}
	if got := s.ActiveDevices(); !slices.Equal(got, []keys.Public{aliceDev.Public(), bobDev.Public()}) {
		t.Errorf("active devices %v", got)
	}
	if _, ok := s.Cutoff(aliceDev.Public()); ok {
		t.Error("a revocation by a revoked device or by another member counted")
	}
}

// TestReducerMutualRevocation: alice's two devices revoke each other
// concurrently (neither saw the other's revocation). The one that sorts
// first wins; the other's revocation is past its author's cut-off.
func TestReducerMutualRevocation(t *testing.T) {
	h := newHistory(t)
	alice, d1, d2 := h.key(), h.key(), h.key()
	h.genesis(alice, d1, 1)
	h.linked(alice, d1, d2, 2)
	first := h.add(d1, 3, &Event{Revoked: &DeviceRevoked{Device: d2.Public(), Seq: 1}})
	first.ID = [32]byte{1}
	second := h.add(d2, 3, &Event{Revoked: &DeviceRevoked{Device: d1.Public(), Seq: 1}})
	second.ID = [32]byte{2}
	s := sameInAnyOrder(t, h)
	if m := s.Member(alice.Public()); !slices.Equal(m.Devices, []keys.Public{d1.Public()}) {
		t.Fatalf("alice's devices %v, want the first only: %s", m.Devices, fmt.Sprint(m.Revoked))
	}
}
