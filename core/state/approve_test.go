package state

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/keys"
)

// TestReducerDeviceApproval pins §5.7: a member's later device counts only
// once one of the member's current devices approves it — before or after
// its announce, the same in any order — and a device that a revoked device
// approves after its revocation (a stolen phone certifying a new key) never
// counts.
func TestReducerDeviceApproval(t *testing.T) {
	h := newHistory(t)
	alice, d1, d2, d3, thief := h.key(), h.key(), h.key(), h.key(), h.key()
	bob, bobDev := h.key(), h.key()
	h.genesis(alice, d1, 1)
	h.invited(alice, d1, bob, bobDev, 2)
	announce := func(dev *keys.Pair, lamport uint64) {
		h.add(dev, lamport, &Event{Announce: &Announce{Cert: keys.NewCert(h.g.ID, alice, dev, dev.LegacyAgreement().PublicKey()), Proof: ProofMember}})
	}
	approve := func(by, dev *keys.Pair, lamport uint64) {
		h.add(by, lamport, &Event{Approved: &DeviceApproved{Device: dev.Public()}})
	}
	announce(d2, 3) // before its approval
	approve(d1, d2, 4)
	approve(d1, d3, 5) // before its announce
	announce(d3, 6)
	h.add(d1, 7, &Event{Revoked: &DeviceRevoked{Device: d3.Public(), Seq: 1}})
	approve(d3, thief, 8)     // past d3's cut-off
	approve(bobDev, thief, 9) // not bob's member
	announce(thief, 10)
	s := sameInAnyOrder(t, h)
	m := s.Member(alice.Public())
	if !slices.Equal(m.Devices, []keys.Public{d1.Public(), d2.Public()}) {
		t.Fatalf("alice's devices %v, want d1 and d2", m.Devices)
	}
	if s.Device(thief.Public()) != nil || !s.Pending(thief.Public()) || s.Writable(thief.Public(), 1) {
		t.Error("the thief's device counts or is not waiting")
	}
}

// TestReducerConcurrentFirstDevices: two devices of alice announce at once,
// each believing it is her first (two devices joining the same invitation,
// or accepting the same contact). The one that sorts first counts; the
// other waits until the first approves it.
func TestReducerConcurrentFirstDevices(t *testing.T) {
	for _, approved := range []bool{false, true} {
		h := newHistory(t)
		alice, d1, d2 := h.key(), h.key(), h.key()
		h.genesis(alice, d1, 1)
		first := h.ops[0]
		first.ID = [32]byte{1}
		a := &Announce{Cert: keys.NewCert(h.g.ID, alice, d2, d2.LegacyAgreement().PublicKey()), Proof: ProofGenesis}
		copy(a.GenesisSig[:], h.gk.Sign(GenesisSigned(h.g.ID, alice.Public())))
		second := h.add(d2, 1, &Event{Announce: a})
		second.ID = [32]byte{2}
		if approved {
			h.add(d1, 2, &Event{Approved: &DeviceApproved{Device: d2.Public()}})
		}
		s := sameInAnyOrder(t, h)
		if got := s.Member(alice.Public()).Devices; approved != (len(got) == 2) {
			t.Errorf("approved=%v: alice's devices %v", approved, got)
		}
	}
}

// TestReducerLeaveKeepsApprover: the regression the property test found. d2
// joined concurrently with d1 (both believing they were first), was
// approved by d1, and leaves without having seen d1 — so its removal does
// not list d1, which would be cut at 0 and with it the approval d2 counts
// by. The leave keeps the approval (d1 cut after it), and replicas that
// dropped d1's ops past that cut-off agree.
func TestReducerLeaveKeepsApprover(t *testing.T) {
	h := newHistory(t)
	alice, d1, d2 := h.key(), h.key(), h.key()
	bob, bobDev := h.key(), h.key()
	h.genesis(alice, d1, 1)
	h.ops[0].ID = [32]byte{1}
	a := &Announce{Cert: keys.NewCert(h.g.ID, alice, d2, d2.LegacyAgreement().PublicKey()), Proof: ProofGenesis}
	copy(a.GenesisSig[:], h.gk.Sign(GenesisSigned(h.g.ID, alice.Public())))
	h.add(d2, 1, &Event{Announce: a}).ID = [32]byte{2}
	h.invited(alice, d1, bob, bobDev, 2)
	ok := h.add(d1, 3, &Event{Approved: &DeviceApproved{Device: d2.Public()}})
	h.add(d2, 4, &Event{Removed: &MemberRemoved{Member: alice.Public(), Cutoffs: []Cutoff{{Device: d2.Public(), Seq: 1}}}})
	h.add(d1, 5, &Event{Info: &GroupInfo{Name: "after alice left"}})
	s := sameInAnyOrder(t, h)
	if c, _ := s.Cutoff(d1.Public()); c != ok.Seq {
		t.Fatalf("d1 cut at %d, want %d (its approval of d2)", c, ok.Seq)
	}
	var kept []*Op
	for _, o := range h.ops {
		if c, cut := s.Cutoff(o.Author); !cut || o.Seq <= c {
			kept = append(kept, o)
		}
	}
	x := New(h.g)
	x.Restore(kept)
	if a, b := describe(s, kept), describe(x, kept); a != b {
		t.Fatalf("dropping the ops past the cut-offs changes the state:\n%s\nvs\n%s", a, b)
	}
}

// TestLetInByLongChain: a compromised device's helpers can approve each
// other in a chain of any length; LetInBy finds the first device at its
// root however long the chain (a bound of 64 once let the 64th helper stay
// after its maker's revocation, §5.6).
func TestLetInByLongChain(t *testing.T) {
	h := newHistory(t)
	alice := h.key()
	devs := []*keys.Pair{h.key()}
	h.genesis(alice, devs[0], 1)
	for i := 1; i <= 100; i++ {
		d := h.key()
		h.linked(alice, devs[i-1], d, uint64(i+1))
		devs = append(devs, d)
	}
	st := New(h.g)
	st.Restore(h.ops)
	if m := st.Member(alice.Public()); len(m.Devices) != 101 {
		t.Fatalf("alice has %d devices, want 101", len(m.Devices))
	}
	root := map[keys.Public]bool{devs[0].Public(): true}
	if !st.LetInBy(devs[100].Public(), root) {
		t.Error("the 100th device of the chain is not found let in by its root")
	}
	if st.LetInBy(devs[100].Public(), map[keys.Public]bool{h.key().Public(): true}) {
		t.Error("LetInBy finds a device that approved nothing")
	}
	if st.LetInBy(devs[0].Public(), root) {
		t.Error("the member's first device, approved by no one, is found let in")
	}
	if !st.LetInBy(devs[100].Public(), map[keys.Public]bool{devs[99].Public(): true}) {
		t.Error("a device is not found let in by its direct approver")
	}
}
