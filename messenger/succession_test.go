package messenger_test

import (
	"sync/atomic"
	"testing"

	"github.com/berty-go/berty/messenger"
)

// TestKeySuccessionUpdatesContacts: when alice's account moves to a new
// key (she revokes her phone, docs/protocol.md §5.9), bob's subscribers are
// told that contacts changed — a client re-reads the contact list and shows
// alice's new key and changed safety number.
func TestKeySuccessionUpdatesContacts(t *testing.T) {
	w := newWorld(t, 1)
	alice := w.add("alice", nil)
	phone := w.add("alice-phone", alice)
	bob := w.add("bob", nil)
	w.run()
	w.contact(alice, bob)
	var contactEvents atomic.Int32
	cancel := bob.m.Subscribe(func(ev messenger.Event) {
		if ev.Kind == messenger.ContactUpdated {
			contactEvents.Add(1)
		}
	})
	defer cancel()
	if err := alice.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	w.run()
	if contactEvents.Load() == 0 {
		t.Fatal("bob's subscribers were not told that alice's key changed")
	}
}
