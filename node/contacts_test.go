package node_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/node"
)

// TestContactStates walks the state table of §11.6 on one node, feeding
// it what the network side would: requests (IncomingRequest), deliveries
// (RequestSent), user actions.
func TestContactStates(t *testing.T) {
	c := newCluster(t, 1, 0, false)
	alice := c.add("alice", nil)
	other := func() (*keys.Pair, *link.Contact) {
		k, err := keys.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		l, err := link.NewContact(k, [32]byte{1}, "someone")
		if err != nil {
			t.Fatal(err)
		}
		return k, l
	}
	stateOf := func(k keys.Public) state.ContactState {
		for _, x := range alice.n.Contacts() {
			if x.Account == k {
				return x.State
			}
		}
		return 0
	}
	incoming := func(k *keys.Pair) handshake.Status {
		t.Helper()
		st, err := alice.n.IncomingRequest(&handshake.Card{Account: k.Public(), Name: "someone"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	want := func(k *keys.Pair, s state.ContactState) {
		t.Helper()
		if got := stateOf(k.Public()); got != s {
			t.Fatalf("state %v, want %v", got, s)
		}
	}

	own, err := alice.n.ContactLink()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.n.RequestContact(own); !errors.Is(err, node.ErrOwnLink) {
		t.Errorf("requesting one's own link: %v", err)
	}

	// outgoing → sent → (the other side joins) accepted is TestContactRequestOverLoopback's;
	// here: cancel, and a request from someone we asked (collapse).
	k, l := other()
	if st, err := alice.n.RequestContact(l); err != nil || st != state.ContactOutgoing {
		t.Fatalf("request: %v, %v", st, err)
	}
	if err := alice.n.RequestSent(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactSent)
	if incoming(k) != handshake.StatusReceived {
		t.Fatal("a request from an account we asked was not received")
	}
	want(k, state.ContactAccepted) // mutual requests collapse
	if incoming(k) != handshake.StatusReceived {
		t.Fatal("a repeated request was not answered received")
	}
	want(k, state.ContactAccepted)

	k, l = other()
	if _, err := alice.n.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	if err := alice.n.CancelContactRequest(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactNone)
	if len(alice.n.Outgoing()) != 0 {
		t.Error("a cancelled request is still to be sent")
	}
	if err := alice.n.RequestSent(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactNone) // a delivery that races the cancel does not revive it

	// incoming → discarded → incoming again → accepted; requesting an
	// account that asked us accepts it.
	k, l = other()
	incoming(k)
	want(k, state.ContactIncoming)
	if err := alice.n.DiscardContact(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactDiscarded)
	incoming(k)
	want(k, state.ContactIncoming)
	if st, err := alice.n.RequestContact(l); err != nil || st != state.ContactAccepted {
		t.Fatalf("requesting an account that asked us: %v, %v", st, err)
	}
	want(k, state.ContactAccepted)
	if err := alice.n.DiscardContact(k.Public()); !errors.Is(err, node.ErrNoRequest) {
		t.Errorf("discarding a contact: %v", err)
	}
	if err := alice.n.AcceptContact(k.Public()); err != nil {
		t.Errorf("accepting a contact again: %v, want a no-op", err)
	}
	want(k, state.ContactAccepted)
	// A contact blocked, then unblocked, is a contact again, with its
	// conversation.
	listed := func() bool {
		for _, g := range alice.n.Topics() {
			if g.Contact == k.Public() {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Fatal("the accepted contact has no conversation")
	}
	if err := alice.n.BlockContact(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactBlocked)
	if listed() {
		t.Error("a blocked contact's conversation is listed")
	}
	if err := alice.n.UnblockContact(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactAccepted)
	if !listed() {
		t.Error("an unblocked contact's conversation is not listed again")
	}

	// blocked (an account that was no contact): requests dropped (answered
	// received), own requests refused, unblock → none.
	k, l = other()
	if err := alice.n.BlockContact(k.Public()); err != nil {
		t.Fatal(err)
	}
	if incoming(k) != handshake.StatusReceived {
		t.Error("a blocked account can tell it is blocked")
	}
	want(k, state.ContactBlocked)
	if _, err := alice.n.RequestContact(l); !errors.Is(err, node.ErrBlocked) {
		t.Errorf("requesting a blocked account: %v", err)
	}
	if err := alice.n.UnblockContact(k.Public()); err != nil {
		t.Fatal(err)
	}
	want(k, state.ContactNone)
	if err := alice.n.AcceptContact(k.Public()); !errors.Is(err, node.ErrNoRequest) {
		t.Errorf("accepting without a request: %v", err)
	}

	// The cap on waiting requests.
	waiting := 0
	for _, x := range alice.n.Contacts() {
		if x.State == state.ContactIncoming {
			waiting++
		}
	}
	for waiting < node.MaxIncoming {
		k, _ := other()
		if incoming(k) != handshake.StatusReceived {
			t.Fatalf("request %d turned away below the cap", waiting)
		}
		waiting++
	}
	k, _ = other()
	if incoming(k) != handshake.StatusBusy {
		t.Error("a request beyond the cap was not answered busy")
	}
	if stateOf(k.Public()) != 0 {
		t.Error("a request beyond the cap was recorded")
	}

	// Every device of the account sees the same states: a second device.
	alice2 := c.add("alice", alice)
	c.run()
	if got, want := len(alice2.n.Contacts()), len(alice.n.Contacts()); got != want {
		t.Errorf("alice's second device sees %d contacts, her first %d", got, want)
	}
}
