package state

import (
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// contactHistory returns a history of a contact group between alice and
// bob, each with one device announced (owner proof), and alice's second
// device phone approved and announced.
func contactHistory(t *testing.T) (h *history, alice, aliceDev, phone, bob, bobDev *keys.Pair) {
	h = newHistory(t)
	alice, aliceDev, phone, bob, bobDev = h.key(), h.key(), h.key(), h.key(), h.key()
	h.g = group.New(group.KindContact, h.g.ID, h.g.Secret, []keys.Public{alice.Public(), bob.Public()})
	owner := func(member, dev *keys.Pair, lamport uint64) {
		h.add(dev, lamport, &Event{Announce: &Announce{Cert: keys.NewCert(h.g.ID, member, dev, dev.LegacyAgreement().PublicKey()), Proof: ProofOwner}})
	}
	owner(alice, aliceDev, 1)
	owner(bob, bobDev, 1)
	h.add(aliceDev, 2, &Event{Approved: &DeviceApproved{Device: phone.Public()}})
	owner(alice, phone, 3)
	return h, alice, aliceDev, phone, bob, bobDev
}

func succeeded(old, next *keys.Pair) *Event {
	return &Event{Succeeded: &Succeeded{Record: keys.NewSuccession(old, next)}}
}

// TestReducerKeyChain pins §5.9 in a contact group: a device of the member
// moves it to a new key, then on again; a record from a key the member has
// left, and one written by a device of the other member, change nothing;
// the result does not depend on the order.
func TestReducerKeyChain(t *testing.T) {
	h, alice, aliceDev, phone, bob, bobDev := contactHistory(t)
	k1, k2, k3 := h.key(), h.key(), h.key()
	h.add(aliceDev, 4, succeeded(alice, k1))
	h.add(phone, 5, succeeded(k1, k2))
	h.add(aliceDev, 6, succeeded(alice, k3)) // from a key alice has left
	h.add(bobDev, 6, succeeded(bob, k3))     // bob's own: moves bob, not alice
	st := sameInAnyOrder(t, h)
	if got := st.CurrentKey(alice.Public()); got != k2.Public() {
		t.Fatalf("alice's key = %v, want k2 %v", got, k2.Public())
	}
	if c := st.KeyChain(alice.Public()); len(c) != 2 || c[0].New != k1.Public() || c[1].New != k2.Public() {
		t.Fatalf("alice's chain = %+v, want alice→k1→k2", c)
	}
	if got := st.CurrentKey(bob.Public()); got != k3.Public() {
		t.Fatalf("bob's key = %v, want k3", got)
	}
}

// TestReducerCompetingSuccession: a stolen phone and alice's laptop both
// move alice from her key, concurrently. The first in fold order wins while
// both devices count; once the laptop revokes the phone, every record the
// phone wrote is void — even one before its cut-off, which the laptop saw
// — and the laptop's stands. The thief's key is never alice's again, in
// any delivery order.
func TestReducerCompetingSuccession(t *testing.T) {
	h, alice, aliceDev, phone, _, _ := contactHistory(t)
	thief, honest := h.key(), h.key()
	first := h.add(phone, 4, succeeded(alice, thief))
	first.ID = [32]byte{} // sorts before the laptop's
	h.add(aliceDev, 4, succeeded(alice, honest))
	st := New(h.g)
	st.Restore(h.ops)
	if got := st.CurrentKey(alice.Public()); got != thief.Public() {
		t.Fatalf("before the revocation: alice's key = %v, want the first record's (%v)", got, thief.Public())
	}
	// The laptop saw the phone's record (cut-off 2 keeps it) and revokes.
	h.add(aliceDev, 5, &Event{Revoked: &DeviceRevoked{Device: phone.Public(), Seq: 2}})
	h.add(phone, 6, succeeded(alice, h.key())) // after its revocation
	st = sameInAnyOrder(t, h)
	if got := st.CurrentKey(alice.Public()); got != honest.Public() {
		t.Fatalf("after the revocation: alice's key = %v, want the laptop's (%v)", got, honest.Public())
	}
}

// TestReducerSuccessionWhereItBelongs: type 19 (with a seed) counts on the
// account group only, type 20 on contact groups only, neither in a
// multi-member group (whose member keys are per group, §3.2); the account
// group keeps the seed of every record it carried, voided ones too.
func TestReducerSuccessionWhereItBelongs(t *testing.T) {
	h, alice, aliceDev, _, _, _ := contactHistory(t)
	k1 := h.key()
	withSeed := succeeded(alice, k1)
	seed := k1.Seed()
	withSeed.Succeeded.Seed = &seed
	h.add(aliceDev, 4, withSeed)
	st := New(h.g)
	st.Restore(h.ops)
	if got := st.CurrentKey(alice.Public()); got != alice.Public() {
		t.Fatalf("a type-19 record moved alice in a contact group, to %v", got)
	}

	a := newHistory(t)
	acct, dev, phone := a.key(), a.key(), a.key()
	a.g = group.New(group.KindAccount, a.g.ID, a.g.Secret, []keys.Public{acct.Public()})
	a.add(dev, 1, &Event{Announce: &Announce{Cert: keys.NewCert(a.g.ID, acct, dev, dev.LegacyAgreement().PublicKey()), Proof: ProofOwner}})
	a.add(dev, 2, &Event{Approved: &DeviceApproved{Device: phone.Public()}})
	a.add(phone, 3, &Event{Announce: &Announce{Cert: keys.NewCert(a.g.ID, acct, phone, phone.LegacyAgreement().PublicKey()), Proof: ProofOwner}})
	a.add(dev, 4, succeeded(acct, a.key())) // no seed: not on the account group
	stolen := a.key()
	s2 := stolen.Seed()
	a.add(phone, 5, &Event{Succeeded: &Succeeded{Record: keys.NewSuccession(acct, stolen), Seed: &s2}})
	a.add(dev, 6, &Event{Revoked: &DeviceRevoked{Device: phone.Public(), Seq: 1}}) // before the record
	next := a.key()
	s3 := next.Seed()
	a.add(dev, 7, &Event{Succeeded: &Succeeded{Record: keys.NewSuccession(acct, next), Seed: &s3}})
	st = sameInAnyOrder(t, a)
	if got := st.CurrentKey(acct.Public()); got != next.Public() {
		t.Fatalf("account key = %v, want %v", got, next.Public())
	}
	if seeds := st.AccountSeeds(); len(seeds) != 1 || seeds[next.Public()] != s3 {
		t.Fatalf("account seeds = %v, want the current one only (the phone's record is past its cut-off)", seeds)
	}

	m := newHistory(t)
	mem, mdev := m.key(), m.key()
	m.genesis(mem, mdev, 1)
	m.add(mdev, 2, succeeded(mem, m.key()))
	st = New(m.g)
	st.Restore(m.ops)
	if len(st.KeyChain(mem.Public())) != 0 {
		t.Fatal("a succession counted in a multi-member group")
	}
}

// TestReducerReplayedRecordNamesNothing: a record's signatures hold
// anywhere, so bob's device can copy alice's record into his own history
// (a modified client). It neither moves bob nor makes alice's new key one
// of bob's named keys — his contacts would refuse alice's real new key
// (a review found it).
func TestReducerReplayedRecordNamesNothing(t *testing.T) {
	h, alice, _, _, bob, bobDev := contactHistory(t)
	aliceNext := h.key()
	h.add(bobDev, 4, succeeded(alice, aliceNext))
	st := sameInAnyOrder(t, h)
	if got := st.NamedKeys(bob.Public()); len(got) != 0 {
		t.Fatalf("bob's named keys: %v, want none", got)
	}
	if got := st.CurrentKey(bob.Public()); got != bob.Public() {
		t.Fatalf("bob moved to %v", got)
	}
}
