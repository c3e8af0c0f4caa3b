package state

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/keys"
)

// restored folds h's ops in every order the test cares about — sorted,
// reversed, one at a time — and checks that they agree, returning the state.
func (h *history) restored() *State {
	h.t.Helper()
	st := New(h.g)
	st.Restore(h.ops)
	want := describe(st, h.ops)
	back := New(h.g)
	for _, o := range slices.Backward(h.ops) {
		back.Apply(o)
	}
	if got := describe(back, h.ops); got != want {
		h.t.Fatalf("reverse order gives another state:\n%s\nwant:\n%s", got, want)
	}
	return st
}

func awaitingMembers(st *State) []keys.Public {
	var out []keys.Public
	for _, w := range st.Awaiting() {
		out = append(out, w.Member)
	}
	return out
}

// TestReducerJoinApproval: once an admin requires it (§5.5), a join through
// a link counts only when an admin admits it; a non-admin cannot admit nor
// change the setting; a declined member cannot come back with another
// device; a removal, a revocation or the link's revocation voids the joins
// still waiting; turning the setting off lets later joins in at once.
func TestReducerJoinApproval(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev := h.key(), h.key()
	carol, carolDev := h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	h.invited(alice, aliceDev, carol, carolDev, 2) // before the setting: in at once

	// carol, no admin, cannot turn approval on.
	h.add(carolDev, 3, &Event{Policy: &JoinPolicy{Approve: true}})
	if st := h.restored(); st.JoinsNeedApproval() {
		t.Fatal("a member who is no admin turned join approval on")
	}
	h.add(aliceDev, 4, &Event{Policy: &JoinPolicy{Approve: true}})

	bob, bobDev := h.key(), h.key()
	h.invited(carol, carolDev, bob, bobDev, 5)
	h.add(bobDev, 6, &Event{Info: &GroupInfo{Name: "bob's name for the group"}})
	st := h.restored()
	if !st.JoinsNeedApproval() || st.Member(bob.Public()) != nil || st.Device(bobDev.Public()) != nil {
		t.Fatalf("bob's join counts before an admin admits it: %s", describe(st, h.ops))
	}
	if w := st.Awaiting(); len(w) != 1 || w[0].Member != bob.Public() || w[0].Device != bobDev.Public() || w[0].Inviter != carol.Public() {
		t.Fatalf("waiting joins = %+v, want bob's through carol's link", w)
	}
	if st.Name() != "" || st.Writable(bobDev.Public(), 2) {
		t.Fatal("a waiting joiner's event counts")
	}

	// carol cannot admit bob: she is no admin.
	h.add(carolDev, 7, &Event{Decision: &JoinDecision{Member: bob.Public(), Admit: true}})
	if st := h.restored(); st.Member(bob.Public()) != nil {
		t.Fatal("a member who is no admin admitted a join")
	}
	h.add(aliceDev, 8, &Event{Decision: &JoinDecision{Member: bob.Public(), Admit: true}})
	st = h.restored()
	if m := st.Member(bob.Public()); m == nil || m.Removed || !slices.Equal(m.Devices, []keys.Public{bobDev.Public()}) || m.Inviter != carol.Public() {
		t.Fatalf("bob after alice admits him: %+v", m)
	}
	if len(st.Awaiting()) != 0 || !st.Writable(bobDev.Public(), 3) {
		t.Fatal("bob, admitted, still waits or cannot write")
	}
	if st.Name() != "" {
		t.Fatal("what bob wrote while waiting counts: only what follows his admission should")
	}

	// dave is declined; his second device's join is refused, and a later
	// admission changes nothing.
	dave, daveDev, daveDev2 := h.key(), h.key(), h.key()
	h.invited(alice, aliceDev, dave, daveDev, 9)
	h.add(aliceDev, 10, &Event{Decision: &JoinDecision{Member: dave.Public()}})
	h.invited(alice, aliceDev, dave, daveDev2, 11)
	h.add(aliceDev, 12, &Event{Decision: &JoinDecision{Member: dave.Public(), Admit: true}})
	st = h.restored()
	if st.Member(dave.Public()) != nil || !st.Declined(dave.Public()) || len(st.Awaiting()) != 0 {
		t.Fatalf("dave after being declined: member %+v, declined %v, waiting %v", st.Member(dave.Public()), st.Declined(dave.Public()), awaitingMembers(st))
	}

	// erin waits through a link that is then revoked: her join dies.
	erin, erinDev := h.key(), h.key()
	h.invited(alice, aliceDev, erin, erinDev, 13)
	ik := h.ops[len(h.ops)-1].Event.Announce.InviteKey
	h.add(aliceDev, 14, &Event{Uninvited: &InvitationRevoked{InviteKey: ik}})
	h.add(aliceDev, 15, &Event{Decision: &JoinDecision{Member: erin.Public(), Admit: true}})
	if st := h.restored(); st.Member(erin.Public()) != nil || len(st.Awaiting()) != 0 {
		t.Fatal("a join through a revoked link was admitted")
	}

	// frank waits; alice removes carol (a new era): frank's join dies with
	// the link, as any invitation does (§5.2).
	frank, frankDev := h.key(), h.key()
	h.invited(alice, aliceDev, frank, frankDev, 16)
	if st := h.restored(); !slices.Equal(awaitingMembers(st), []keys.Public{frank.Public()}) {
		t.Fatalf("waiting = %v, want frank", awaitingMembers(st))
	}
	h.add(aliceDev, 17, &Event{Removed: &MemberRemoved{Member: carol.Public(), Cutoffs: []Cutoff{{Device: carolDev.Public(), Seq: h.seq[carolDev.Public()]}}}})
	if st := h.restored(); !st.Member(carol.Public()).Removed || len(st.Awaiting()) != 0 {
		t.Fatalf("after carol's removal: removed %v, waiting %v", st.Member(carol.Public()).Removed, awaitingMembers(st))
	}
	h.add(aliceDev, 18, &Event{Decision: &JoinDecision{Member: frank.Public(), Admit: true}})
	if st := h.restored(); st.Member(frank.Public()) != nil || len(st.Awaiting()) != 0 {
		t.Fatal("a join from before a removal was admitted after it")
	}

	// Approval off: the next join counts at once.
	h.add(aliceDev, 19, &Event{Policy: &JoinPolicy{}})
	gina, ginaDev := h.key(), h.key()
	h.invited(alice, aliceDev, gina, ginaDev, 20)
	if st := h.restored(); st.JoinsNeedApproval() || st.Device(ginaDev.Public()) == nil {
		t.Fatal("with approval off, a join waits")
	}
}

// TestReducerJoinApprovalConcurrent: a join that sorts before the admin's
// setting counts at once (it came first), and one that sorts after it
// waits, whatever order the entries arrive in — the setting applies where it
// falls in the fold, like any other event.
func TestReducerJoinApprovalConcurrent(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev := h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	early, earlyDev := h.key(), h.key()
	late, lateDev := h.key(), h.key()
	h.invited(alice, aliceDev, early, earlyDev, 3)
	h.add(aliceDev, 4, &Event{Policy: &JoinPolicy{Approve: true}})
	h.invited(alice, aliceDev, late, lateDev, 4) // concurrent: same clock
	h.ops[len(h.ops)-1].ID = [32]byte{0xff}      // sorts after the setting
	st := h.restored()
	if st.Device(earlyDev.Public()) == nil {
		t.Error("a join that sorts before the setting waits")
	}
	if st.Device(lateDev.Public()) != nil || !slices.Equal(awaitingMembers(st), []keys.Public{late.Public()}) {
		t.Errorf("a join that sorts after the setting: device %v, waiting %v", st.Device(lateDev.Public()) != nil, awaitingMembers(st))
	}
}
