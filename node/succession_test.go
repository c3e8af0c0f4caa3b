package node_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/node"
)

// contacts makes a and b contacts directly (both sides derive the group).
func contacts(t *testing.T, c *cluster, a, b *device) [32]byte {
	t.Helper()
	topic, err := a.n.AddContact(b.n.AccountKey(), b.name)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.n.AddContact(a.n.AccountKey(), a.name); err != nil || got != topic {
		t.Fatalf("%s adds %s: %x, %v; want the topic %x", b.name, a.name, got, err, topic)
	}
	c.run()
	return topic
}

// accountPair returns the account key pair a device was given (the
// account's first key): what a thief reads from a stolen device.
func accountPair(t *testing.T, d *device) *keys.Pair {
	t.Helper()
	acc, err := d.st.Account()
	if err != nil {
		t.Fatal(err)
	}
	return keys.FromSeed(acc.AccountSeed)
}

// TestRevocationMovesTheAccountKey (§5.9): alice's laptop revokes her
// stolen phone. The account moves to a key the phone never learns; bob, a
// contact, learns it through their contact group and refuses a link the
// thief signs with the old key; a contact alice makes afterwards (dave)
// shares a group the old key cannot derive; alice's tablet follows the new
// key and chats with dave; all of it survives a restart.
func TestRevocationMovesTheAccountKey(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		c := newCluster(t, seed, 0.2, seed == 1)
		laptop := c.add("alice", nil)
		phone := c.add("alice", laptop)
		tablet := c.add("alice", laptop)
		bob := c.add("bob", nil)
		dave := c.add("dave", nil)
		c.run()
		ab := contacts(t, c, laptop, bob)
		old := laptop.n.AccountKey()
		stolenLink, err := phone.n.ContactLink() // the thief's copy of alice's link
		if err != nil {
			t.Fatal(err)
		}
		thief := accountPair(t, phone)

		if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		c.run()
		next := laptop.n.AccountKey()
		if next == old {
			t.Fatalf("seed %d: the revocation did not move the account to a new key", seed)
		}
		if got := tablet.n.AccountKey(); got != next {
			t.Fatalf("seed %d: the tablet's account key = %v, want the laptop's new one %v", seed, got, next)
		}
		if got := phone.n.AccountKey(); got != old {
			t.Fatalf("seed %d: the revoked phone learnt the new key %v", seed, got)
		}
		if got := bob.n.ContactKey(old); got != next {
			t.Fatalf("seed %d: bob has alice's key as %v, want %v", seed, got, next)
		}

		// The thief's link, signed with the old key, is refused by bob…
		if _, err := bob.n.RequestContact(stolenLink); !errors.Is(err, node.ErrKeySucceeded) {
			t.Fatalf("seed %d: bob takes the thief's link: %v, want ErrKeySucceeded", seed, err)
		}
		forged, err := link.NewContact(thief, [32]byte{9}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.n.RequestContact(forged); !errors.Is(err, node.ErrKeySucceeded) {
			t.Fatalf("seed %d: bob takes a new link signed with the old key: %v", seed, err)
		}
		// …and alice's new link is alice, a contact already.
		fresh, err := laptop.n.ContactLink()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.Account != next || fresh.Seed == stolenLink.Seed {
			t.Fatalf("seed %d: the new link has key %v and the old seed: %v", seed, fresh.Account, fresh.Seed == stolenLink.Seed)
		}
		if st, err := bob.n.RequestContact(fresh); err != nil || st != state.ContactAccepted {
			t.Fatalf("seed %d: bob and alice's new link: %v, %v; want accepted already", seed, st, err)
		}

		// A contact made after the revocation derives from the new key:
		// the thief cannot compute the group, so cannot announce there.
		ad := contacts(t, c, laptop, dave)
		if g, err := group.Contact(thief, dave.n.AccountKey()); err != nil || g.Keys.Topic == ad {
			t.Fatalf("seed %d: the old key derives alice and dave's group (%v)", seed, err)
		}
		laptop.send(ad, "hi dave")
		c.run()
		tablet.send(ad, "from the tablet")
		laptop.send(ab, "still bob's alice")
		c.run()
		if got := dave.bodies(ad); !slices.Equal(got, []string{"hi dave", "from the tablet"}) {
			t.Fatalf("seed %d: dave reads %q", seed, got)
		}
		if got := bob.bodies(ab); !slices.Contains(got, "still bob's alice") {
			t.Fatalf("seed %d: bob reads %q", seed, got)
		}
		if slices.ContainsFunc(phone.n.Topics(), func(g node.GroupInfo) bool { return g.Topic == ad }) {
			t.Fatalf("seed %d: the revoked phone has alice and dave's conversation", seed)
		}

		for _, d := range []*device{laptop, tablet, dave} {
			d.restart()
		}
		if got := laptop.n.AccountKey(); got != next {
			t.Fatalf("seed %d: after a restart the account key is %v, want %v", seed, got, next)
		}
		dave.send(ad, "after the restart")
		c.run()
		for _, d := range []*device{laptop, tablet} {
			if got := d.bodies(ad); !slices.Contains(got, "after the restart") {
				t.Fatalf("seed %d: %s after a restart reads %q", seed, d.name, got)
			}
		}

		// A device linked now is handed the first key (it names the
		// account group) and finds the current one there.
		desktop := c.add("alice", laptop)
		c.run()
		if got := desktop.n.AccountKey(); got != next {
			t.Fatalf("seed %d: a device linked after the revocation has the account key %v, want %v", seed, got, next)
		}
		desktop.send(ad, "from the desktop")
		c.run()
		if got := dave.bodies(ad); !slices.Contains(got, "from the desktop") {
			t.Fatalf("seed %d: dave reads %q", seed, got)
		}
	}
}

// TestThiefsSuccessionIsVoided: the phone, compromised before anyone knows,
// moves the account to a key of the thief's — through the account group
// as an honest device would, or (a modified client) in bob's contact group
// only, where no other device of alice holds that key to move on from it.
// The record counts until the phone is found out, for bob too. Once the
// laptop revokes the phone, the thief's record is void everywhere and the
// account moves to the laptop's key: bob ends up with alice under a key
// the thief never held, and refuses the thief's.
func TestThiefsSuccessionIsVoided(t *testing.T) {
	for _, onlyThere := range []bool{false, true} {
		for _, seed := range []uint64{1, 2} {
			c := newCluster(t, seed, 0.2, false)
			laptop := c.add("alice", nil)
			phone := c.add("alice", laptop)
			bob := c.add("bob", nil)
			c.run()
			ab := contacts(t, c, laptop, bob)
			first := laptop.n.AccountKey()
			var stolen keys.Public
			if onlyThere {
				k := keys.FromSeed([32]byte{byte(seed), 7})
				stolen = k.Public()
				ev := &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(accountPair(t, phone), k)}}
				if err := phone.n.PostInGroupForTest(ab, ev); err != nil {
					t.Fatal(err)
				}
			} else {
				var err error
				if stolen, err = phone.n.RotateAccountKey(); err != nil {
					t.Fatal(err)
				}
			}
			c.run()
			if got := bob.n.ContactKey(first); got != stolen {
				t.Fatalf("%v/%d: before the revocation bob has alice as %v, want the phone's %v", onlyThere, seed, got, stolen)
			}
			thiefLink, err := link.NewContact(keys.FromSeed([32]byte{byte(seed), 7}), [32]byte{9}, "alice")
			if !onlyThere {
				thiefLink, err = phone.n.ContactLink()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
				t.Fatal(err)
			}
			c.run()
			next := laptop.n.AccountKey()
			if next == stolen || next == first {
				t.Fatalf("%v/%d: after the revocation the account key is %v (first %v, the thief's %v)", onlyThere, seed, next, first, stolen)
			}
			if got := bob.n.ContactKey(first); got != next {
				t.Fatalf("%v/%d: bob has alice as %v, want the laptop's %v", onlyThere, seed, got, next)
			}
			if _, err := bob.n.RequestContact(thiefLink); !errors.Is(err, node.ErrKeySucceeded) {
				t.Fatalf("%v/%d: bob takes the thief's link: %v, want ErrKeySucceeded", onlyThere, seed, err)
			}
		}
	}
}

// TestSafetyNumbers (§11.8): alice and bob see the same number; bob checks
// the digits alice reads him, alice confirms by eye; a wrong number is
// refused. When alice revokes her phone, her account moves to a new key:
// both numbers change, stay equal, and each side shows the contact as
// changed since it verified, until it verifies again.
func TestSafetyNumbers(t *testing.T) {
	c := newCluster(t, 1, 0.2, false)
	laptop := c.add("alice", nil)
	phone := c.add("alice", laptop)
	bob := c.add("bob", nil)
	c.run()
	contacts(t, c, laptop, bob)
	alice := laptop.n.AccountKey()
	sa, err := laptop.n.SafetyNumber(bob.n.AccountKey())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.n.SafetyNumber(alice)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Number != sb.Number || sa.Verified || sb.Verified {
		t.Fatalf("alice sees %+v, bob %+v", sa, sb)
	}
	wrong := []byte(sa.Number)
	wrong[7] = '0' + (wrong[7]-'0'+1)%10
	if _, err := bob.n.VerifyContact(alice, string(wrong), false); !errors.Is(err, node.ErrSafetyMismatch) {
		t.Fatalf("a wrong number: %v, want ErrSafetyMismatch", err)
	}
	if s, err := bob.n.VerifyContact(alice, safety.Format(sa.Number), false); err != nil || !s.Verified {
		t.Fatalf("bob types alice's number: %+v, %v", s, err)
	}
	if s, err := laptop.n.VerifyContact(bob.n.AccountKey(), "", false); err != nil || !s.Verified {
		t.Fatalf("alice confirms by eye: %+v, %v", s, err)
	}
	c.run()
	if s, _ := phone.n.SafetyNumber(bob.n.AccountKey()); !s.Verified {
		t.Fatalf("alice's phone does not show bob verified: %+v", s)
	}

	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	sa2, _ := laptop.n.SafetyNumber(bob.n.AccountKey())
	sb2, _ := bob.n.SafetyNumber(alice)
	if sa2.Number == sa.Number || sa2.Number != sb2.Number {
		t.Fatalf("after alice's new key: alice sees %s, bob %s (before: %s)", sa2.Number, sb2.Number, sa.Number)
	}
	if !sa2.Changed || sa2.Verified || !sb2.Changed || sb2.Verified {
		t.Fatalf("after alice's new key: alice %+v, bob %+v; want changed on both sides", sa2, sb2)
	}
	if s, err := bob.n.VerifyContact(alice, safety.Code(sa2.Number), false); err != nil || !s.Verified || s.Changed {
		t.Fatalf("bob scans alice's new code: %+v, %v", s, err)
	}
	if s, err := bob.n.VerifyContact(alice, "", true); err != nil || s.Verified || s.Changed {
		t.Fatalf("bob clears: %+v, %v", s, err)
	}
}
