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

// TestReducerJoinApprovalEndsOldLinks: turning approval on ends the links
// made before, as a removal does (§5.5). A join its admin saw stays; one
// through an old link that its admin did not see is dropped, even though
// it sorts before the setting (an honest join names only its link's record,
// so it always does); one that sorts after the setting does not count, and
// does not wait either. A link made after the setting makes joins wait.
// Whatever order the entries arrive in (restored checks the reverse).
func TestReducerJoinApprovalEndsOldLinks(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev := h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	old := h.link(aliceDev, 2)
	seen, seenDev := h.key(), h.key()
	h.joinWith(alice, old, seen, seenDev, 3)
	h.add(aliceDev, 5, &Event{Policy: &JoinPolicy{Approve: true}}) // its roster: alice and seen
	unseen, unseenDev := h.key(), h.key()
	h.joinWith(alice, old, unseen, unseenDev, 3) // written later, sorts before the setting
	late, lateDev := h.key(), h.key()
	h.joinWith(alice, old, late, lateDev, 6)
	fresh := h.link(aliceDev, 7)
	waiting, waitingDev := h.key(), h.key()
	h.joinWith(alice, fresh, waiting, waitingDev, 8)

	st := h.restored()
	if m := st.Member(seen.Public()); m == nil || m.Removed {
		t.Errorf("the join the admin saw: %+v, want a member", m)
	}
	if m := st.Member(unseen.Public()); m == nil || !m.Dropped || st.Writable(unseenDev.Public(), 2) {
		t.Errorf("a join through an old link the admin did not see: %+v, want dropped", m)
	}
	if st.Member(late.Public()) != nil || st.Device(lateDev.Public()) != nil {
		t.Error("a join through an old link after the setting counts")
	}
	if w := awaitingMembers(st); !slices.Equal(w, []keys.Public{waiting.Public()}) {
		t.Errorf("waiting %x, want only the join through the new link", w)
	}
}

// TestReducerAdmitCannotBringBackADroppedMember (review): mallory's first
// device waits through alice's link; approval goes off and her second
// device joins at once through bob's link, so she waits no more. Bob, who
// had not seen her join, revokes his link and drops her; alice's admission
// of the join she had seen waiting sorts after that. A dropped member is
// removed for good: the admission changes nothing, and she is listed once.
func TestReducerAdmitCannotBringBackADroppedMember(t *testing.T) {
	h := newHistory(t)
	alice, aliceDev := h.key(), h.key()
	bob, bobDev := h.key(), h.key()
	mallory, malDev1, malDev2 := h.key(), h.key(), h.key()
	h.genesis(alice, aliceDev, 1)
	h.invited(alice, aliceDev, bob, bobDev, 2)
	h.add(aliceDev, 3, &Event{Policy: &JoinPolicy{Approve: true}})
	h.invited(alice, aliceDev, mallory, malDev1, 4) // waits for an admin
	h.add(aliceDev, 5, &Event{Policy: &JoinPolicy{}})
	h.invited(bob, bobDev, mallory, malDev2, 6) // in at once, through bob's link
	l2 := h.ops[len(h.ops)-1].Event.Announce.InviteKey
	st := h.restored()
	if m := st.Member(mallory.Public()); m == nil || m.Removed || len(st.Awaiting()) != 0 {
		t.Fatalf("mallory in through bob's link: member %+v, waiting %v; want a member who waits no more", m, awaitingMembers(st))
	}
	h.add(bobDev, 7, &Event{Uninvited: &InvitationRevoked{InviteKey: l2, Drop: true}})
	h.add(aliceDev, 7, &Event{Decision: &JoinDecision{Member: mallory.Public(), Admit: true}})
	h.ops[len(h.ops)-1].ID = [32]byte{0xff} // sorts after bob's revocation
	st = h.restored()
	if m := st.Member(mallory.Public()); m == nil || !m.Removed || !m.Dropped {
		t.Errorf("mallory after the drop and the admission: %+v, want dropped", m)
	}
	n := 0
	for _, m := range st.Members() {
		if m.Key == mallory.Public() {
			n++
		}
	}
	if n != 1 || st.Writable(malDev2.Public(), 2) {
		t.Errorf("mallory listed %d times, her dropped device writes: %v", n, st.Writable(malDev2.Public(), 2))
	}
}
