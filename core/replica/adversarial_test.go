package replica

// Adversarial tests. Most entries below are built by an attacker (a server,
// a non-member holding the group secret, a removed member, an equivocating
// member) and must be rejected without leaving anything behind: Receive
// returns Refused (or Duplicate) with the right error, the next Ready has no
// entries and no messages, and the version vector does not move (see
// expectRejected). Where the protocol stores an entry but must not let it
// count (an announce whose signatures hold but that a state rule rejects,
// §5.2), the tests check that it never counts: no membership, no chain key,
// no delivered message. The last tests are about removals racing with
// restarts, other removals and devices the remover never saw.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// ctxEntry is the signature context of entries (feed's unexported constant);
// TestAdversarialHelpers checks that re-signing a valid entry with it gives
// the same bytes.
const ctxEntry = "berty/v1/entry"

const tailSize = 32 + 1 + 64 // MAC, signature flag and signature of a signed entry

// remac recomputes the replication MAC of raw (an attacker holding the group
// secret can), keeping the old signature.
func remac(raw []byte, replication *[32]byte) []byte {
	end := macEnd(raw)
	b := append([]byte(nil), raw...)
	m := hmac.New(sha256.New, replication[:])
	m.Write(b[:end-32])
	copy(b[end-32:end], m.Sum(nil))
	return b
}

// macEnd returns where the MAC ends in an encoded entry: before the
// signature flag and, for a signed entry, the signature (§4.1).
func macEnd(raw []byte) int {
	if len(raw) > 65 && raw[len(raw)-65] == 1 {
		return len(raw) - 65
	}
	return len(raw) - 1
}

// resign recomputes the MAC and signs raw with signer: the signature covers
// the entry ID, the hash of everything up to the MAC.
func resign(raw []byte, replication *[32]byte, signer *keys.Pair) []byte {
	b := remac(raw, replication)
	end := macEnd(b)
	id := sha256.Sum256(b[:end])
	out := append(b[:end:end], 1)
	return append(out, signer.Sign(keys.SignContext(ctxEntry, id[:]))...)
}

// encodeUnchecked encodes an entry body like feed.Sign but without its
// limits, then MACs and signs it.
func encodeUnchecked(u *feed.Unsigned, replication *[32]byte, author *keys.Pair) []byte {
	b := []byte{feed.Version}
	b = append(b, u.Topic[:]...)
	pub := author.Public()
	b = append(b, pub[:]...)
	b = wire.AppendUvarint(b, u.Seq)
	b = append(b, u.Prev[:]...)
	b = wire.AppendUvarint(b, u.Lamport)
	b = wire.AppendUvarint(b, uint64(len(u.Deps)))
	for _, d := range u.Deps {
		b = append(b, d.Device[:]...)
		b = wire.AppendUvarint(b, d.Seq)
	}
	b = append(b, byte(u.Kind))
	b = wire.AppendBytes(b, u.Payload)
	b = append(b, make([]byte, 32)...) // MAC, filled by resign
	b = append(b, 0)                   // unsigned until resign
	return resign(b, replication, author)
}

// flip returns a copy of raw with the bits of mask flipped at offset i.
func flip(raw []byte, i int, mask byte) []byte {
	b := append([]byte(nil), raw...)
	b[i] ^= mask
	return b
}

func decode(t *testing.T, raw []byte) *feed.Entry {
	t.Helper()
	e, err := feed.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// groupKeys returns p's per-group member and device key pairs.
func groupKeys(p *peer) (member, device *keys.Pair) {
	return p.cfg.Group.MemberKeys(p.cfg.Account, p.cfg.Device)
}

// unsignedOf returns the fields of e, for building a sibling entry.
func unsignedOf(e *feed.Entry) *feed.Unsigned {
	return &feed.Unsigned{Topic: e.Topic, Seq: e.Seq, Prev: e.Prev, Lamport: e.Lamport,
		Deps: append([]feed.Dep(nil), e.Deps...), Kind: e.Kind, Payload: append([]byte(nil), e.Payload...)}
}

// expectRejected gives raw to p and checks that it is rejected with outcome
// want, an error matching every one of errs (for Refused), and that nothing
// is stored: no entries, messages or truncations in the next Ready, the
// version vector and the held count unchanged, the storage untouched. Unless
// the refusal is an equivocation (which is reported and freezes the device),
// the Ready must be entirely empty. It returns the Ready.
func expectRejected(t *testing.T, c *cluster, p *peer, raw []byte, want Outcome, errs ...error) Ready {
	t.Helper()
	vec, held, stored, nmsgs := p.r.Vector(), p.r.Held(), p.lk.count(), len(p.msgs)
	out, err := p.r.Receive(raw, p.lk)
	if out != want {
		t.Errorf("%s: outcome %d (err %v), want %d", p.name, out, err, want)
	}
	switch want {
	case feed.Refused:
		if err == nil {
			t.Errorf("%s: refused without an error", p.name)
		}
		for _, w := range errs {
			if !errors.Is(err, w) {
				t.Errorf("%s: error %v, want %v", p.name, err, w)
			}
		}
	default:
		if err != nil {
			t.Errorf("%s: outcome %d with error %v", p.name, out, err)
		}
	}
	rd := p.r.Ready()
	if len(rd.Entries) != 0 || len(rd.Messages) != 0 || len(rd.Truncations) != 0 || len(rd.Outbox) != 0 {
		t.Errorf("%s: rejected entry left %d entries, %d messages, %d truncations, %d outbox",
			p.name, len(rd.Entries), len(rd.Messages), len(rd.Truncations), len(rd.Outbox))
	}
	if !errors.Is(err, feed.ErrEquivocation) && !rd.Empty() {
		t.Errorf("%s: rejected entry left a non-empty Ready: snapshot %v, events %+v", p.name, rd.Snapshot != nil, rd.Events)
	}
	if got := p.r.Vector(); !vectorsEqual(got, vec) {
		t.Errorf("%s: vector moved from %v to %v", p.name, vec, got)
	}
	if p.r.Held() != held {
		t.Errorf("%s: held count moved from %d to %d", p.name, held, p.r.Held())
	}
	c.flush(p)
	if p.lk.count() != stored || len(p.msgs) != nmsgs {
		t.Errorf("%s: storage moved from %d entries/%d messages to %d/%d", p.name, stored, nmsgs, p.lk.count(), len(p.msgs))
	}
	return rd
}

// threeMembers makes a multi-member group: alice creates it, bob and carol
// join by invitation from alice; everything is synced.
func threeMembers(t *testing.T, seed uint64) (c *cluster, alice, bob, carol *peer) {
	t.Helper()
	c = newCluster(t, seed)
	alice = c.creator("alice")
	bob = c.join(alice, "bob")
	c.sync()
	carol = c.join(alice, "carol")
	c.sync()
	for _, p := range c.peers {
		if n := len(p.r.State().ActiveDevices()); n != 3 {
			t.Fatalf("%s: %d active devices after setup, want 3", p.name, n)
		}
	}
	return c, alice, bob, carol
}

func (c *cluster) remove(by, target *peer) Ready {
	c.t.Helper()
	if err := by.r.Remove(target.r.MemberKey(), by.lk); err != nil {
		c.t.Fatalf("%s removes %s: %v", by.name, target.name, err)
	}
	return c.flush(by)
}

// deliverAll gives each raw entry to p in order and flushes.
func (c *cluster) deliverAll(p *peer, raws [][]byte) {
	c.t.Helper()
	for _, raw := range raws {
		c.receive(p, raw)
	}
}

// handKeys has by read what dev just published (its announce), hand dev
// the group's epochs and its chain, and dev read them: a new device reads
// and writes only once a current device did that (§6.3). It returns the
// entries dev published meanwhile.
func (c *cluster) handKeys(dev, by *peer, published Ready) []*feed.Entry {
	c.t.Helper()
	n := len(c.wire)
	// by gets what dev had seen (its announce depends on it), in clock
	// order; receive flushes: by's answer goes out on the wire.
	var seen []*feed.Entry
	for _, f := range dev.lk {
		for _, e := range f {
			seen = append(seen, e)
		}
	}
	sort.Slice(seen, func(i, j int) bool { return seen[i].Lamport < seen[j].Lamport })
	for _, e := range seen {
		c.receive(by, e.Encoded)
	}
	c.deliverAll(by, outboxOf(published))
	m := len(c.wire)
	c.deliverAll(dev, c.wire[n:m])
	var out []*feed.Entry
	for _, raw := range c.wire[m:] {
		if e := decode(c.t.(*testing.T), raw); e.Author == dev.r.DeviceKey() {
			out = append(out, e)
		}
	}
	return out
}

func outboxOf(rd Ready) [][]byte {
	var out [][]byte
	for _, e := range rd.Outbox {
		out = append(out, e.Encoded)
	}
	return out
}

func TestAdversarialHelpers(t *testing.T) {
	c, alice, _, _ := threeMembers(t, 1)
	m := c.send(alice, "hello")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)
	_, dev := groupKeys(alice)
	if got := resign(raw, &c.g.Keys.Replication, dev); !bytes.Equal(got, raw) {
		t.Fatal("re-signing a valid entry with the test's context changes it: the helpers are wrong")
	}
	e := decode(t, raw)
	if got := encodeUnchecked(unsignedOf(e), &c.g.Keys.Replication, dev); !bytes.Equal(got, raw) {
		t.Fatal("encodeUnchecked does not reproduce a valid entry")
	}
}

func TestAdversarialForgedSignature(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 2)
	m := c.send(alice, "signed by alice")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)

	// A flipped signature byte: the MAC (which does not cover the signature)
	// still verifies, the signature does not.
	for _, i := range []int{len(raw) - 64, len(raw) - 33, len(raw) - 1} {
		expectRejected(t, c, bob, flip(raw, i, 0x01), feed.Refused, feed.ErrBadSignature)
	}
	// Re-signed with another key (bob's own device key, a member's!) with a
	// valid MAC: the author field still names alice's device.
	_, bobDev := groupKeys(bob)
	expectRejected(t, c, bob, resign(raw, &c.g.Keys.Replication, bobDev), feed.Refused, feed.ErrBadSignature)
	expectRejected(t, c, bob, resign(raw, &c.g.Keys.Replication, c.newKey()), feed.Refused, feed.ErrBadSignature)
	// A flipped MAC byte: refused before any signature work.
	expectRejected(t, c, bob, flip(raw, len(raw)-tailSize, 0x80), feed.Refused, feed.ErrBadMAC)
	// MAC'd with another group's replication key.
	var other [32]byte
	other[0] = 1
	expectRejected(t, c, bob, resign(raw, &other, bobDev), feed.Refused, feed.ErrBadMAC)

	// None of this poisoned anything: the genuine entry is accepted and read.
	if out, err := c.receive(bob, raw); out != feed.Ready || err != nil {
		t.Fatalf("genuine entry after forgeries: %d %v", out, err)
	}
	if !bob.hasBody("signed by alice") {
		t.Fatal("bob does not read the genuine message after the forgeries")
	}
}

func TestAdversarialTamperedEntry(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 3)
	m := c.send(alice, "the ciphertext of this message is tampered with")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)
	e := decode(t, raw)
	rk := &c.g.Keys.Replication
	payloadAt := len(raw) - tailSize - len(e.Payload)
	lamportAt := 1 + 32 + 32 + len(wire.AppendUvarint(nil, e.Seq)) + 32

	cases := []struct {
		name string
		at   int
	}{
		{"sealed message header", payloadAt},
		{"sealed message header tag", payloadAt + 8 + 24},
		{"ciphertext", payloadAt + 8 + seal.Overhead + 3},
		{"ciphertext tag", len(raw) - tailSize - 1},
		{"entry lamport", lamportAt},
		{"entry author", 1 + 32 + 5},
		{"entry topic", 1 + 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := flip(raw, tc.at, 0x01)
			// A server without the group secret: the MAC fails (or the
			// topic, which names the group, no longer matches).
			want := feed.ErrBadMAC
			if tc.name == "entry topic" {
				want = feed.ErrWrongGroup
			}
			expectRejected(t, c, bob, bad, feed.Refused, want)
			// A non-member with the group secret recomputes the MAC: the
			// author's signature still fails.
			if tc.name != "entry topic" {
				expectRejected(t, c, bob, remac(bad, rk), feed.Refused, feed.ErrBadSignature)
			}
		})
	}
	if out, err := c.receive(bob, raw); out != feed.Ready || err != nil {
		t.Fatalf("genuine entry after tampered copies: %d %v", out, err)
	}
	if !bob.hasBody("the ciphertext of this message is tampered with") {
		t.Fatal("bob does not read the genuine message")
	}
}

func TestAdversarialWrongGroup(t *testing.T) {
	c, alice, _, _ := threeMembers(t, 4)
	d, dave, eve, _ := threeMembers(t, 5)
	m := c.send(alice, "for group A only")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)
	expectRejected(t, d, dave, raw, feed.Refused, feed.ErrWrongGroup)
	// Alice's first entry, her announce, is not welcome in group B either.
	expectRejected(t, d, eve, c.entryOf(alice.r.DeviceKey(), 1), feed.Refused, feed.ErrWrongGroup)
	// Rewritten for group B by someone holding both secrets: alice's
	// signature no longer matches.
	b := append([]byte(nil), raw...)
	copy(b[1:33], d.g.Keys.Topic[:])
	expectRejected(t, d, dave, remac(b, &d.g.Keys.Replication), feed.Refused, feed.ErrBadSignature)
}

func TestAdversarialOversized(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 6)
	cp := bob.checkpoint()
	m := c.send(alice, "small")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)

	// More bytes than any entry may have: refused before decoding.
	big := append(append([]byte(nil), raw...), make([]byte, feed.MaxEntrySize+1-len(raw))...)
	expectRejected(t, c, bob, big, feed.Refused, feed.ErrTooLarge, wire.ErrMalformed)

	// A member (alice, with her real key and the right position) signs an
	// entry whose payload is one byte over the limit.
	_, aliceDev := groupKeys(alice)
	e := decode(t, raw)
	u := unsignedOf(e)
	u.Payload = make([]byte, feed.MaxPayload+1)
	if _, err := feed.Sign(u, &c.g.Keys.Replication, aliceDev); !errors.Is(err, feed.ErrTooLarge) {
		t.Fatalf("feed.Sign of an oversized payload: %v, want ErrTooLarge", err)
	}
	over := encodeUnchecked(u, &c.g.Keys.Replication, aliceDev)
	if len(over) > feed.MaxEntrySize {
		t.Fatalf("test entry of %d bytes is over MaxEntrySize: it does not test the payload limit", len(over))
	}
	expectRejected(t, c, bob, over, feed.Refused, wire.ErrMalformed)
	// And the local API refuses to produce one.
	if _, err := alice.r.Send(make([]byte, feed.MaxPayload), alice.lk); !errors.Is(err, feed.ErrTooLarge) {
		t.Fatalf("Send of a %d-byte body: %v, want ErrTooLarge", feed.MaxPayload, err)
	}
	c.flush(alice)

	// The limit is the limit: exactly MaxPayload bytes is accepted (an
	// observer stores it, undecryptable), so the refusals above are about size.
	u.Payload = make([]byte, feed.MaxPayload)
	exact, err := feed.Sign(u, &c.g.Keys.Replication, aliceDev)
	if err != nil {
		t.Fatal(err)
	}
	obs := c.fork(cp, "observer", nil)
	if out, err := c.receive(obs, exact.Encoded); out != feed.Ready || err != nil {
		t.Fatalf("entry with a payload of exactly MaxPayload: %d %v", out, err)
	}

	if out, err := c.receive(bob, raw); out != feed.Ready || err != nil || !bob.hasBody("small") {
		t.Fatalf("genuine entry after oversized ones: %d %v", out, err)
	}
}

func TestAdversarialReplay(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 7)
	m1 := c.send(alice, "one")
	m2 := c.send(alice, "two")
	raw1 := c.entryOf(alice.r.DeviceKey(), m1.Seq)
	raw2 := c.entryOf(alice.r.DeviceKey(), m2.Seq)

	// Out of order: two is held; a replay of a held entry is a duplicate.
	if out, err := c.receive(bob, raw2); out != feed.Held || err != nil {
		t.Fatalf("second message first: %d %v, want Held", out, err)
	}
	expectRejected(t, c, bob, raw2, feed.Duplicate)
	if bob.r.Held() != 1 {
		t.Fatalf("held %d, want 1", bob.r.Held())
	}
	if out, err := c.receive(bob, raw1); out != feed.Ready || err != nil {
		t.Fatalf("first message: %d %v", out, err)
	}
	if bob.r.Held() != 0 || !bob.hasBody("one") || !bob.hasBody("two") {
		t.Fatalf("after the gap is filled: held %d, bodies %v", bob.r.Held(), bob.bodiesFrom(alice.r.DeviceKey()))
	}
	// Replays of stored entries, the head and an older one.
	expectRejected(t, c, bob, raw2, feed.Duplicate)
	expectRejected(t, c, bob, raw1, feed.Duplicate)
	expectRejected(t, c, bob, c.entryOf(alice.r.DeviceKey(), 1), feed.Duplicate)
	// After a restart from the snapshot.
	c.restart(bob)
	expectRejected(t, c, bob, raw1, feed.Duplicate)
	expectRejected(t, c, bob, raw2, feed.Duplicate)
	// Alice's own entries coming back to her.
	expectRejected(t, c, alice, raw2, feed.Duplicate)
	c.restart(alice)
	expectRejected(t, c, alice, raw1, feed.Duplicate)
	if n := len(bob.bodiesFrom(alice.r.DeviceKey())); n != 2 {
		t.Fatalf("bob has %d messages from alice, want 2", n)
	}
}

// mallory holds the group secret (a leaked invitation link, a server
// operator told the secret, a former member) but is not a member.
func newMallory(c *cluster) *peer {
	g := *c.g
	g.IDSeed = nil // not the creator
	p := c.newPeer("mallory", &g, nil)
	c.peers = c.peers[:len(c.peers)-1] // not part of c.sync
	return p
}

// forceAnnounce makes p write an announce whatever its own checks say.
func forceAnnounce(t *testing.T, c *cluster, p *peer, a *state.Announce) []byte {
	t.Helper()
	member, dev := groupKeys(p)
	a.Cert = keys.NewCert(c.g.ID, member, dev, dev.LegacyAgreement().PublicKey())
	e, err := p.r.postMetadata(&state.Event{Announce: a}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(p)
	return e.WithSignature(dev).Encoded // signed on its own, as a one-entry batch would be
}

// forceMessage makes p write a message entry with an arbitrary payload,
// bypassing Send's membership checks.
func forceMessage(t *testing.T, c *cluster, p *peer, payload []byte) []byte {
	t.Helper()
	e, err := p.r.appendLocal(feed.KindMessage, 0, nil, func(uint64) ([]byte, error) { return payload, nil })
	if err != nil {
		t.Fatal(err)
	}
	c.flush(p)
	_, dev := groupKeys(p)
	return e.WithSignature(dev).Encoded
}

// TestAdversarialNonMember: mallory holds the group secret, so her entries
// carry a valid MAC, but she is not a member. An announce whose signatures
// fail (an owner proof in a multi-member group, a forged genesis proof) is
// refused at ingest, and her later entries then never get in (§4.3). An
// announce whose signatures hold but that a state rule rejects (an invitation
// from a non-member, a member proof for a key that is no member) may be
// stored, but never counts (§5.2): she is no member, gets no chain key and
// none of her messages is delivered.
func TestAdversarialNonMember(t *testing.T) {
	type attempt struct {
		name     string
		refused  bool // signatures fail: refused at ingest
		announce func(c *cluster, mallory *peer) *state.Announce
	}
	attempts := []attempt{
		{"owner proof in a multi-member group", true, func(c *cluster, m *peer) *state.Announce {
			return &state.Announce{Proof: state.ProofOwner}
		}},
		{"genesis proof signed by the wrong key", true, func(c *cluster, m *peer) *state.Announce {
			member, _ := groupKeys(m)
			a := &state.Announce{Proof: state.ProofGenesis}
			copy(a.GenesisSig[:], c.newKey().Sign(state.GenesisSigned(c.g.ID, member.Public())))
			return a
		}},
		{"invitation with a forged join signature", true, func(c *cluster, m *peer) *state.Announce {
			member, _ := groupKeys(m)
			inviter, ik := c.newKey(), c.newKey()
			a := &state.Announce{Proof: state.ProofInvitation, Inviter: inviter.Public(), InviteKey: ik.Public()}
			copy(a.InviterSig[:], inviter.Sign(state.InvitationSigned(c.g.ID, ik.Public(), 0)))
			copy(a.JoinSig[:], c.newKey().Sign(state.JoinSigned(c.g.ID, member.Public())))
			return a
		}},
		{"member proof without a member", false, func(c *cluster, m *peer) *state.Announce {
			return &state.Announce{Proof: state.ProofMember}
		}},
		{"invitation signed by a non-member", false, func(c *cluster, m *peer) *state.Announce {
			member, _ := groupKeys(m)
			inviter, ik := c.newKey(), c.newKey()
			a := &state.Announce{Proof: state.ProofInvitation, Inviter: inviter.Public(), InviteKey: ik.Public()}
			copy(a.InviterSig[:], inviter.Sign(state.InvitationSigned(c.g.ID, ik.Public(), 0)))
			copy(a.JoinSig[:], ik.Sign(state.JoinSigned(c.g.ID, member.Public())))
			return a
		}},
	}
	for i, at := range attempts {
		t.Run(at.name, func(t *testing.T) {
			c, alice, bob, _ := threeMembers(t, 100+uint64(i))
			mallory := newMallory(c)
			c.sync(mallory) // mallory sees the whole group
			ann := forceAnnounce(t, c, mallory, at.announce(c, mallory))
			later := [][]byte{
				forceMessage(t, c, mallory, bytes.Repeat([]byte{0xAA}, 80)),
				forceMessage(t, c, mallory, bytes.Repeat([]byte{0xBB}, 80)),
			}
			for _, p := range []*peer{alice, bob} {
				if at.refused {
					expectRejected(t, c, p, ann, feed.Refused, ErrBadAnnounce)
					// Her later entries wait for a first entry that
					// never comes: never appended.
					for j, raw := range later {
						vec := p.r.Vector()
						out, err := p.r.Receive(raw, p.lk)
						rd := c.flush(p)
						if out == feed.Ready || len(rd.Entries) != 0 || len(rd.Messages) != 0 || !vectorsEqual(vec, p.r.Vector()) {
							t.Errorf("%s: entry %d after a refused announce accepted: outcome %d (%v), %d entries",
								p.name, j+2, out, err, len(rd.Entries))
						}
					}
					if p.r.Held() > len(later) {
						t.Errorf("%s: %d held entries for %d sent", p.name, p.r.Held(), len(later))
					}
				} else {
					for _, raw := range append([][]byte{ann}, later...) {
						out, err := p.r.Receive(raw, p.lk)
						rd := c.flush(p)
						if err != nil && !errors.Is(err, ErrBadAnnounce) && !errors.Is(err, ErrNotMember) {
							t.Errorf("%s: outcome %d, error %v", p.name, out, err)
						}
						if len(rd.Messages) != 0 || len(eventsOf(rd.Events, EventMemberJoined)) != 0 {
							t.Errorf("%s: non-member entry delivered %d messages, events %+v", p.name, len(rd.Messages), rd.Events)
						}
					}
				}
				if p.r.State().Member(mallory.r.MemberKey()) != nil || p.r.State().Device(mallory.r.DeviceKey()) != nil {
					t.Errorf("%s: mallory counts as a member", p.name)
				}
				for _, d := range p.r.State().ActiveDevices() {
					if d == mallory.r.DeviceKey() {
						t.Errorf("%s: mallory's device is active", p.name)
					}
				}
			}
			// Mallory gets no chain key: she cannot read the members.
			c.tolerate = []error{ErrBadAnnounce, ErrNotMember}
			c.send(alice, "members only")
			c.sync()
			c.sync(mallory)
			if mallory.hasBody("members only") {
				t.Error("mallory reads the members' messages")
			}
		})
	}
}

func TestAdversarialRemovedMember(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 8)
	carolDev := carol.r.DeviceKey()
	c.tolerate = []error{feed.ErrCutOff}

	// Before the removal carol reads and is read.
	c.send(alice, "alice before")
	c.send(carol, "carol before")
	c.sync()
	if !carol.hasBody("alice before") || !alice.hasBody("carol before") || !bob.hasBody("carol before") {
		t.Fatal("messages before the removal are not delivered")
	}
	cutoff := carol.r.Vector()[carolDev]

	// Carol writes while alice removes her: alice has not seen this one.
	conc := c.send(carol, "carol concurrent")
	rawConc := c.entryOf(carolDev, conc.Seq)
	rdRemove := c.remove(alice, carol)
	if cut := alice.r.State().Member(carol.r.MemberKey()).Cutoffs[carolDev]; cut != cutoff {
		t.Fatalf("cutoff %d, want alice's head of carol %d", cut, cutoff)
	}
	c.deliverAll(bob, outboxOf(rdRemove))
	if !bob.r.State().Member(carol.r.MemberKey()).Removed {
		t.Fatal("bob did not apply the removal")
	}
	// Carol's concurrent entry is refused by both once they have the removal.
	expectRejected(t, c, alice, rawConc, feed.Refused, feed.ErrCutOff)
	expectRejected(t, c, bob, rawConc, feed.Refused, feed.ErrCutOff)

	// Carol gets the removal: her own concurrent message is truncated, she
	// can no longer send, and what she forces out anyway is refused.
	c.sync(alice, bob, carol)
	if !carol.r.State().Member(carol.r.MemberKey()).Removed {
		t.Fatal("carol did not apply her removal")
	}
	if carol.hasBody("carol concurrent") {
		t.Error("carol's own concurrent message survives her removal on her replica")
	}
	if v := carol.r.Vector()[carolDev]; v != cutoff {
		t.Errorf("carol: her own feed at %d after her removal, want the cutoff %d", v, cutoff)
	}
	if _, err := carol.r.Send([]byte("let me in"), carol.lk); !errors.Is(err, ErrNotMember) {
		t.Errorf("removed carol sends: %v, want ErrNotMember", err)
	}
	forced := forceMessage(t, c, carol, bytes.Repeat([]byte{1}, 100))
	expectRejected(t, c, alice, forced, feed.Refused, feed.ErrCutOff)
	expectRejected(t, c, bob, forced, feed.Refused, feed.ErrCutOff)

	// Alice and bob write after processing the removal: carol cannot read it.
	a := c.send(alice, "alice after")
	b := c.send(bob, "bob after")
	evBefore := len(carol.events)
	c.sync()
	if !bob.hasBody("alice after") || !alice.hasBody("bob after") {
		t.Fatal("remaining members do not read each other after the removal")
	}
	if carol.hasBody("alice after") || carol.hasBody("bob after") {
		t.Fatal("removed carol reads messages written after her removal")
	}
	undec := map[msgKey]bool{}
	for _, e := range eventsOf(carol.events[evBefore:], EventUndecryptable) {
		undec[msgKey{e.Device, e.Seq}] = true
	}
	if !undec[msgKey{alice.r.DeviceKey(), a.Seq}] || !undec[msgKey{bob.r.DeviceKey(), b.Seq}] {
		t.Errorf("carol got no EventUndecryptable for the messages after her removal: %+v", carol.events[evBefore:])
	}
	for _, p := range []*peer{alice, bob, carol} {
		if p.hasBody("carol concurrent") {
			t.Errorf("%s delivers carol's concurrent message", p.name)
		}
		if !p.hasBody("carol before") {
			t.Errorf("%s lost carol's message from before the removal", p.name)
		}
		if p == carol {
			continue // her replica stores what she forced out
		}
		if v := p.r.Vector()[carolDev]; v != cutoff {
			t.Errorf("%s: carol's feed at %d, want the cutoff %d", p.name, v, cutoff)
		}
	}
}

// TestAdversarialConcurrentMessageAnyOrder delivers, in every order, carol's
// message written concurrently with her removal and alice's removal entries
// to an observer: the message is never delivered, whatever came first.
func TestAdversarialConcurrentMessageAnyOrder(t *testing.T) {
	c, alice, _, carol := threeMembers(t, 9)
	dave := c.join(alice, "dave")
	c.sync()
	c.send(carol, "carol before")
	c.sync()
	c.tolerate = []error{feed.ErrCutOff}
	cp := dave.checkpoint()
	carolDev := carol.r.DeviceKey()

	start := len(c.wire)
	c.send(carol, "carol concurrent 1")
	c.send(carol, "carol concurrent 2")
	c.remove(alice, carol)
	c.send(alice, "alice after")
	news := append([][]byte(nil), c.wire[start:]...)
	if len(news) > 7 {
		t.Fatalf("%d new entries: too many permutations", len(news))
	}
	cutoff := alice.r.State().Member(carol.r.MemberKey()).Cutoffs[carolDev]

	n, truncated, refused := 0, 0, 0
	permute(len(news), func(order []int) {
		n++
		obs := c.fork(cp, fmt.Sprintf("dave%v", order), nil)
		for _, i := range order {
			if _, err := c.receive(obs, news[i]); errors.Is(err, feed.ErrCutOff) {
				refused++
			}
		}
		truncated += obs.truncated
		for _, body := range []string{"carol concurrent 1", "carol concurrent 2"} {
			if obs.hasBody(body) {
				t.Errorf("order %v: %q delivered", order, body)
			}
		}
		if !obs.hasBody("carol before") || !obs.hasBody("alice after") {
			t.Errorf("order %v: missing messages: %v", order, obs.msgs)
		}
		if v := obs.r.Vector()[carolDev]; v != cutoff {
			t.Errorf("order %v: carol's feed at %d, want %d", order, v, cutoff)
		}
		if obs.r.Held() != 0 {
			t.Errorf("order %v: %d entries still held", order, obs.r.Held())
		}
	})
	// Both ways were taken: read then truncated, and refused on arrival.
	if n == 0 || truncated == 0 || refused == 0 {
		t.Fatalf("%d orders, %d truncated messages, %d refused entries: not the cases under test", n, truncated, refused)
	}
}

// permute calls f with every permutation of 0..n-1.
func permute(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(append([]int(nil), p...))
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

func TestAdversarialEquivocation(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 10)
	_, bobDev := groupKeys(bob)
	rk := &c.g.Keys.Replication
	cpAlice := alice.checkpoint()

	b1 := c.send(bob, "b1")
	raw1 := c.entryOf(bob.r.DeviceKey(), b1.Seq)
	e1 := decode(t, raw1)
	u := unsignedOf(e1)
	u.Payload = bytes.Repeat([]byte{0x5A}, len(e1.Payload))
	forged, err := feed.Sign(u, rk, bobDev)
	if err != nil {
		t.Fatal(err)
	}
	if forged.ID == e1.ID {
		t.Fatal("the forged entry is the same entry")
	}

	// Alice has b1, then gets the other entry at the same seq.
	if out, err := c.receive(alice, raw1); out != feed.Ready || err != nil || !alice.hasBody("b1") {
		t.Fatalf("b1: %d %v", out, err)
	}
	rd := expectRejected(t, c, alice, forged.Encoded, feed.Refused, feed.ErrEquivocation)
	checkEquivocation(t, rd, bob.r.DeviceKey(), b1.Seq, e1.ID, forged.ID)
	// The second one again: refused again, still nothing stored.
	expectRejected(t, c, alice, forged.Encoded, feed.Refused)
	// Bob's later entries are refused: the device is frozen.
	b2 := c.send(bob, "b2")
	raw2 := c.entryOf(bob.r.DeviceKey(), b2.Seq)
	expectFrozen(t, c, alice, raw2)
	if alice.hasBody("b2") {
		t.Fatal("alice reads a frozen device")
	}

	// Carol gets them the other way round: the forged one is stored (it is
	// all she knows), the genuine one is the equivocation.
	if out, err := c.receive(carol, forged.Encoded); out != feed.Ready || err != nil {
		t.Fatalf("forged first: %d %v", out, err)
	}
	rd = expectRejected(t, c, carol, raw1, feed.Refused, feed.ErrEquivocation)
	checkEquivocation(t, rd, bob.r.DeviceKey(), b1.Seq, forged.ID, e1.ID)
	expectFrozen(t, c, carol, raw2)
	if carol.hasBody("b1") || carol.hasBody("b2") {
		t.Fatal("carol reads a forked feed")
	}

	// A fork detected through Prev: an entry after the forged one reaches a
	// replica that has the genuine one.
	u2 := unsignedOf(decode(t, raw2))
	u2.Prev = forged.ID
	child, err := feed.Sign(u2, rk, bobDev)
	if err != nil {
		t.Fatal(err)
	}
	obs := c.fork(cpAlice, "observer", nil)
	if out, err := c.receive(obs, raw1); out != feed.Ready || err != nil {
		t.Fatalf("b1 at observer: %d %v", out, err)
	}
	rd = expectRejected(t, c, obs, child.Encoded, feed.Refused, feed.ErrEquivocation)
	checkEquivocation(t, rd, bob.r.DeviceKey(), b1.Seq, e1.ID, forged.ID)
	expectFrozen(t, c, obs, raw2)

	// A fork between two held entries: both wait for b1, the second is
	// refused and the device's held entries are dropped.
	obs2 := c.fork(cpAlice, "observer2", nil)
	if out, err := c.receive(obs2, raw2); out != feed.Held || err != nil {
		t.Fatalf("b2 before b1: %d %v", out, err)
	}
	u3 := unsignedOf(decode(t, raw2))
	u3.Payload = bytes.Repeat([]byte{0x33}, len(u3.Payload))
	sibling, err := feed.Sign(u3, rk, bobDev)
	if err != nil {
		t.Fatal(err)
	}
	vec := obs2.r.Vector()
	out, err := obs2.r.Receive(sibling.Encoded, obs2.lk)
	rd = c.flush(obs2)
	if out != feed.Refused || !errors.Is(err, feed.ErrEquivocation) {
		t.Fatalf("held fork: %d %v", out, err)
	}
	checkEquivocation(t, rd, bob.r.DeviceKey(), b2.Seq, decode(t, raw2).ID, sibling.ID)
	if len(rd.Entries) != 0 || !vectorsEqual(vec, obs2.r.Vector()) {
		t.Fatal("held fork stored something")
	}
	if obs2.r.Held() != 0 {
		t.Fatalf("%d entries still held from a frozen device", obs2.r.Held())
	}
	expectFrozen(t, c, obs2, raw1)
}

func checkEquivocation(t *testing.T, rd Ready, dev keys.Public, seq uint64, a, b feed.ID) {
	t.Helper()
	evs := eventsOf(rd.Events, EventEquivocation)
	if len(evs) != 1 {
		t.Fatalf("%d equivocation events, want 1: %+v", len(evs), rd.Events)
	}
	ev := evs[0]
	if ev.Device != dev || ev.Seq != seq || ev.Equivocation == nil ||
		ev.Equivocation.Device != dev || ev.Equivocation.Seq != seq ||
		ev.Equivocation.A != a || ev.Equivocation.B != b {
		t.Fatalf("equivocation event %+v (%+v), want device %s seq %d, %s then %s", ev, ev.Equivocation, dev, seq, a, b)
	}
}

// expectFrozen checks that raw, from a frozen device, is refused and stores
// nothing.
func expectFrozen(t *testing.T, c *cluster, p *peer, raw []byte) {
	t.Helper()
	vec := p.r.Vector()
	out, err := p.r.Receive(raw, p.lk)
	rd := c.flush(p)
	if out != feed.Refused || !errors.Is(err, feed.ErrCutOff) {
		t.Errorf("%s: entry of a frozen device: %d %v, want Refused (frozen)", p.name, out, err)
	}
	if len(rd.Entries) != 0 || len(rd.Messages) != 0 || !vectorsEqual(vec, p.r.Vector()) {
		t.Errorf("%s: entry of a frozen device stored", p.name)
	}
}

func TestAdversarialHeldFlood(t *testing.T) {
	const maxHeld = 8
	c, alice, bob, _ := threeMembers(t, 11)
	cp := bob.checkpoint() // bob before alice's messages, as an observer
	var raws [][]byte
	var bodies []string
	for i := range 3 * maxHeld {
		m := c.send(alice, fmt.Sprintf("m%02d", i))
		raws = append(raws, c.entryOf(alice.r.DeviceKey(), m.Seq))
		bodies = append(bodies, string(m.Body))
	}
	obs := c.fork(cp, "small", func(cfg *Config) { cfg.MaxHeld = maxHeld })

	// Everything but the first: maxHeld are held, the rest refused.
	var refused [][]byte
	for i, raw := range raws[1:] {
		if i < maxHeld {
			if out, err := c.receive(obs, raw); out != feed.Held || err != nil {
				t.Fatalf("entry %d: %d %v, want Held", i+1, out, err)
			}
			continue
		}
		expectRejected(t, c, obs, raw, feed.Refused, feed.ErrHeldFull)
		refused = append(refused, raw)
		if obs.r.Held() > maxHeld {
			t.Fatalf("held %d > MaxHeld %d", obs.r.Held(), maxHeld)
		}
	}
	// Strangers flooding with valid MACs (a server, or anyone with the
	// secret): refused once the hold is full...
	stranger := func(i int) []byte {
		k := c.newKey()
		var prev feed.ID
		prev[0] = byte(i + 1)
		e, err := feed.Sign(&feed.Unsigned{Topic: c.g.Keys.Topic, Seq: 2 + uint64(i), Prev: prev, Lamport: 5,
			Kind: feed.KindMessage, Payload: []byte("flood")}, &c.g.Keys.Replication, k)
		if err != nil {
			t.Fatal(err)
		}
		return e.Encoded
	}
	for i := range 3 * maxHeld {
		expectRejected(t, c, obs, stranger(i), feed.Refused, feed.ErrHeldFull)
	}
	if obs.r.Held() != maxHeld {
		t.Fatalf("held %d, want %d", obs.r.Held(), maxHeld)
	}
	// ...and bounded when they fill an empty hold.
	empty := c.fork(cp, "empty", func(cfg *Config) { cfg.MaxHeld = maxHeld })
	for i := range 3 * maxHeld {
		raw := stranger(i)
		if i < maxHeld {
			if out, err := c.receive(empty, raw); out != feed.Held || err != nil {
				t.Fatalf("stranger %d: %d %v, want Held", i, out, err)
			}
			continue
		}
		expectRejected(t, c, empty, raw, feed.Refused, feed.ErrHeldFull)
		if empty.r.Held() > maxHeld {
			t.Fatalf("held %d > MaxHeld %d", empty.r.Held(), maxHeld)
		}
	}
	// The gap is filled: the held ones are released, the refused ones come
	// back by sync and everything is read once.
	if out, err := c.receive(obs, raws[0]); out != feed.Ready || err != nil {
		t.Fatalf("first entry: %d %v", out, err)
	}
	if obs.r.Held() != 0 {
		t.Fatalf("held %d after the gap is filled", obs.r.Held())
	}
	for _, raw := range refused {
		if out, err := c.receive(obs, raw); out != feed.Ready || err != nil {
			t.Fatalf("refused entry again: %d %v", out, err)
		}
	}
	if got := obs.bodiesFrom(alice.r.DeviceKey()); fmt.Sprint(got) != fmt.Sprint(append([]string(nil), bodies...)) {
		t.Fatalf("delivered %v, want %v", got, bodies)
	}
}

// TestAdversarialRemovedMemberCannotRejoin: a removed member still holds the
// group secret and its member key. It signs an invitation with that key after
// its removal, with an inviter clock it had while a member, and has a fresh
// identity join with it. The joiner must not become a member (an invitation
// needs a current member, §5.2, and a removal is "for good", §5.3): it must
// not count, get chain keys, nor read what is written after the removal.
func TestAdversarialRemovedMemberCannotRejoin(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 12)
	c.send(alice, "before")
	c.sync()
	c.remove(alice, carol)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	if !bob.r.State().Member(carol.r.MemberKey()).Removed {
		t.Fatal("removal not applied")
	}

	// Carol mints an invitation with her member key. Its Lamport clock is
	// one carol could legitimately have had while a member (her announce's),
	// so that the joiner's announce sorts before the removal.
	member, _ := groupKeys(carol)
	ik := c.newKey()
	inv := &Invitation{GroupID: c.g.ID, Secret: c.g.Secret, Inviter: member.Public(), InviteSeed: ik.Seed(),
		InviterDevice: carol.r.DeviceKey(), InviterSeq: 1, InviterLamport: carol.stored[msgKey{carol.r.DeviceKey(), 1}].Lamport}
	copy(inv.InviterSig[:], member.Sign(state.InvitationSigned(c.g.ID, ik.Public(), 0)))
	inv, err := DecodeInvitation(inv.Encode())
	if err != nil {
		t.Fatal(err)
	}
	mallory := c.newPeer("mallory", inv.Group(), nil)
	if err := mallory.r.AnnounceInvited(inv, mallory.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(mallory)
	c.sync()
	for _, p := range []*peer{alice, bob} {
		if p.r.State().Member(mallory.r.MemberKey()) != nil {
			t.Errorf("%s: the member invited by removed carol after her removal is a member: %+v",
				p.name, p.r.State().Member(mallory.r.MemberKey()))
		}
	}
	c.send(alice, "after the removal")
	c.sync()
	if mallory.hasBody("after the removal") {
		t.Error("a member invited by removed carol after her removal reads the group")
	}
}

// TestAdversarialRemovedMemberUnknownDevice: carol links a second device,
// a real one (carol's first device approved it, §5.7, and everyone has the
// approval), whose announce alice has not seen when she removes carol. The
// removal's cut-offs do not name it, so nothing of it counts; its entries
// must be refused everywhere once the removal is known, as for carol's known
// device (Remove: "the member's entries this device has not seen are refused
// everywhere"), and a replica that read its message before the removal must
// truncate it. Both cases: the device's announce sorts before the removal
// (its clock is lower), or after it.
func TestAdversarialRemovedMemberUnknownDevice(t *testing.T) {
	for _, announceFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("announce sorts first=%v", announceFirst), func(t *testing.T) {
			c, alice, bob, carol := threeMembers(t, 13)
			carol2 := c.newPeer("carol2", carol.cfg.Group, carol.cfg.Account)
			c.approve(carol, carol2)
			c.sync()
			if announceFirst {
				// Alice's clock runs ahead of carol2's.
				for i := range 3 {
					c.send(alice, fmt.Sprintf("alice %d", i))
				}
			} else {
				// carol2 sees bob's messages, alice does not before removing.
				for i := range 3 {
					c.send(bob, fmt.Sprintf("bob %d", i))
				}
			}
			if announceFirst {
				for _, raw := range c.wire[:len(c.wire)-3] {
					c.receive(carol2, raw)
				}
			} else {
				c.sync(carol2)
			}
			if err := carol2.r.AnnounceMember(carol2.lk); err != nil {
				t.Fatal(err)
			}
			published := c.flush(carol2)
			ann := published.Outbox[0]
			c.handKeys(carol2, carol, published)
			c.send(carol2, "from carol's second device")
			removal := c.remove(alice, carol).Outbox[0] // alice has not seen carol2
			if (ann.Lamport < removal.Lamport) != announceFirst || ann.Lamport == removal.Lamport {
				t.Fatalf("announce at lamport %d, removal at %d: not the case under test", ann.Lamport, removal.Lamport)
			}
			c.tolerate = []error{feed.ErrCutOff}
			c.lenient = true   // see TestWriteAfterTruncationToZero
			c.sync(alice, bob) // bob gets carol2's entries before the removal
			for _, err := range c.errs {
				t.Error(err)
			}
			if bob.truncated == 0 {
				t.Error("bob truncated nothing: he did not read carol2's message before the removal, not the case under test")
			}

			c2 := carol2.r.DeviceKey()
			later := forceMessage(t, c, carol2, bytes.Repeat([]byte{7}, 64))
			for _, p := range []*peer{alice, bob} {
				if p.hasBody("from carol's second device") {
					t.Errorf("%s delivers the message of removed carol's unknown device", p.name)
				}
				if v := p.r.Vector()[c2]; v != 0 {
					t.Errorf("%s stores %d entries of removed carol's unknown device (vector %v)", p.name, v, p.r.Vector())
				}
				out, err := p.r.Receive(later, p.lk)
				rd := c.flush(p)
				if out != feed.Refused || !errors.Is(err, feed.ErrCutOff) || len(rd.Entries) != 0 {
					t.Errorf("%s: entry of removed carol's unknown device written after the removal: outcome %d, %v, %d entries stored; want Refused with ErrCutOff",
						p.name, out, err, len(rd.Entries))
				}
			}
		})
	}
}

// TestAdversarialRemovalAfterRestart: alice reads carol's message, restarts
// from her snapshot, then removes carol. The message is within the cut-off,
// so it counts: every member must read it, whatever arrives first
// ("convergence never depends on deps", §4.2). Bob gets the removal before
// the message. Without the restart the removal depends on the message and bob
// holds it until the message is in; after the restart it does not.
func TestAdversarialRemovalAfterRestart(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			c, alice, bob, carol := threeMembers(t, 14)
			c.tolerate = []error{feed.ErrCutOff}
			m := c.send(carol, "within the cutoff")
			c.receive(alice, c.entryOf(carol.r.DeviceKey(), m.Seq))
			if !alice.hasBody("within the cutoff") {
				t.Fatal("alice does not read carol")
			}
			if restart {
				c.restart(alice)
			}
			rd := c.remove(alice, carol)
			if cut := alice.r.State().Member(carol.r.MemberKey()).Cutoffs[carol.r.DeviceKey()]; cut != m.Seq {
				t.Fatalf("cutoff %d, want %d", cut, m.Seq)
			}
			removal := rd.Outbox[0]
			dep := false
			for _, d := range removal.Deps {
				if d.Device == carol.r.DeviceKey() && d.Seq >= m.Seq {
					dep = true
				}
			}
			if !dep {
				t.Logf("the removal does not depend on carol's message alice read (deps %v)", removal.Deps)
			}
			// Bob gets the removal before carol's message.
			c.deliverAll(bob, outboxOf(rd))
			c.sync()
			if !bob.hasBody("within the cutoff") {
				t.Errorf("bob never reads carol's message from before her removal, which alice read (events %+v)",
					eventsOf(bob.events, EventUndecryptable))
			}
		})
	}
}

// TestLeaveTakesEffect: a member leaves (Remove of its own member key). It is
// removed on every replica, its own included; its later entries are refused
// and it cannot read what the others write afterwards.
func TestLeaveTakesEffect(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 15)
	c.tolerate = []error{feed.ErrCutOff}
	c.send(bob, "bob before leaving")
	c.sync()
	c.remove(bob, bob)
	c.sync()
	for _, p := range []*peer{alice, bob, carol} {
		if m := p.r.State().Member(bob.r.MemberKey()); m == nil || !m.Removed {
			t.Errorf("%s: bob left but is %+v", p.name, m)
		}
		if !p.hasBody("bob before leaving") {
			t.Errorf("%s lost bob's message from before he left", p.name)
		}
	}
	if _, err := bob.r.Send([]byte("after leaving"), bob.lk); !errors.Is(err, ErrNotMember) {
		t.Errorf("bob sends after leaving: %v, want ErrNotMember", err)
	}
	c.flush(bob)
	c.send(alice, "after bob left")
	c.sync()
	if bob.hasBody("after bob left") {
		t.Error("bob reads the group after leaving it")
	}
}

// twoAdmins is a synced group of four: alice created it and made bob an
// admin too; carol and dave are members.
func twoAdmins(t *testing.T, seed uint64) (c *cluster, alice, bob, carol, dave *peer) {
	t.Helper()
	c, alice, bob, carol = threeMembers(t, seed)
	dave = c.join(alice, "dave")
	c.sync()
	if err := alice.r.GrantAdmin(bob.r.MemberKey(), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	return c, alice, bob, carol, dave
}

// TestConcurrentRemovalsConverge: alice and bob are admins. Concurrently,
// alice removes bob and bob removes carol. Bob's removal of carol is past
// bob's cut-off, so it does not count: carol stays a member everywhere, and
// her later entries count. Dave sees bob's removal of carol first: he must
// undo its effects (carol's feed frozen, her chain forgotten) when alice's
// removal of bob arrives, and end up like every other replica. Both cases:
// bob's removal sorts before alice's (lower clock) or after it.
func TestConcurrentRemovalsConverge(t *testing.T) {
	for _, bobFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("bob's removal sorts first=%v", bobFirst), func(t *testing.T) {
			c, alice, bob, carol, dave := twoAdmins(t, 16)
			c.tolerate = []error{feed.ErrCutOff}
			// Whose clock runs ahead decides the order of the removals.
			ahead := bob
			if bobFirst {
				ahead = alice
			}
			for i := range 3 {
				c.send(ahead, fmt.Sprintf("%s %d", ahead.name, i))
			}
			c.sync(dave) // dave has everything but the removals
			byAlice := c.remove(alice, bob)
			byBob := c.remove(bob, carol)
			if (byBob.Outbox[0].Lamport < byAlice.Outbox[0].Lamport) != bobFirst {
				t.Fatalf("removal clocks: alice's %d, bob's %d: not the case under test", byAlice.Outbox[0].Lamport, byBob.Outbox[0].Lamport)
			}
			c.deliverAll(dave, outboxOf(byBob)) // dave sees bob's removal of carol first
			if m := dave.r.State().Member(carol.r.MemberKey()); m == nil || !m.Removed {
				t.Fatalf("dave did not apply bob's removal of carol: not the case under test")
			}
			c.deliverAll(dave, outboxOf(byAlice))
			c.sync()
			for _, p := range c.peers {
				if m := p.r.State().Member(bob.r.MemberKey()); m == nil || !m.Removed {
					t.Errorf("%s: bob %+v, want removed", p.name, m)
				}
				if m := p.r.State().Member(carol.r.MemberKey()); m == nil || m.Removed {
					t.Errorf("%s: carol %+v, want a member (bob's removal of her does not count)", p.name, m)
				}
				if c, cut := p.r.State().Cutoffs()[carol.r.DeviceKey()]; cut {
					t.Errorf("%s: carol, a member, has a cut-off at %d", p.name, c)
				}
			}
			if _, err := carol.r.Send([]byte("carol is still a member"), carol.lk); err != nil {
				t.Fatalf("carol cannot send: %v", err)
			}
			c.flush(carol)
			c.sync()
			want := alice.r.Vector()
			for _, p := range []*peer{alice, carol, dave} {
				if got := p.r.Vector(); !vectorsEqual(got, want) {
					t.Errorf("%s: vector %v, alice has %v", p.name, got, want)
				}
				if !p.hasBody("carol is still a member") {
					t.Errorf("%s does not read carol, a member", p.name)
				}
			}
		})
	}
}

// TestWriteAfterTruncationToZero: bob has the announce of carol's second
// device (approved by carol, §5.7), which alice did not know when she
// removed carol: its cut-off is 0 and bob's replica truncates its feed to
// nothing. Bob's replica must still be able to write (its chain rotation
// after the removal, its messages): the deps of its next entry must not name
// a feed at seq 0.
func TestWriteAfterTruncationToZero(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 17)
	carol2 := c.newPeer("carol2", carol.cfg.Group, carol.cfg.Account)
	c.approve(carol, carol2)
	c.sync()
	for i := range 3 {
		c.send(alice, fmt.Sprintf("alice %d", i)) // alice's clock runs ahead
	}
	for _, raw := range c.wire[:len(c.wire)-3] { // all but alice's messages
		c.receive(carol2, raw)
	}
	if err := carol2.r.AnnounceMember(carol2.lk); err != nil {
		t.Fatal(err)
	}
	rd2 := c.flush(carol2)
	ann := rd2.Outbox[0]
	rd2.Outbox = append(rd2.Outbox, c.handKeys(carol2, carol, rd2)...)
	if len(rd2.Outbox) < 2 {
		t.Fatal("carol2 wrote no entry after her announce")
	}
	for _, raw := range c.wire[:len(c.wire)-len(rd2.Outbox)] {
		c.receive(bob, raw)
	}
	// Bob writes after carol2's announce (her chain key), then gets her
	// next entry: her feed is among those bob's next entry depends on.
	c.deliverAll(bob, outboxOf(rd2))
	if bob.r.State().Device(carol2.r.DeviceKey()) == nil {
		t.Fatal("bob does not count carol's second device before her removal")
	}
	rd := c.remove(alice, carol)
	if rd.Outbox[0].Lamport <= ann.Lamport {
		t.Fatal("the removal does not sort after the announce: not the case under test")
	}
	for _, e := range rd.Outbox {
		out, err := bob.r.Receive(e.Encoded, bob.lk)
		c.flush(bob)
		if err != nil {
			t.Errorf("bob receives alice's %s: outcome %d, error %v", describe(e), out, err)
		}
	}
	if v := bob.r.Vector()[carol2.r.DeviceKey()]; v != 0 {
		t.Errorf("bob keeps %d entries of carol's unseen device", v)
	}
	if _, err := bob.r.Send([]byte("bob can still write"), bob.lk); err != nil {
		t.Fatalf("bob cannot write after the truncation: %v", err)
	}
	c.flush(bob)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync(alice, bob)
	if !alice.hasBody("bob can still write") {
		t.Error("alice does not read bob")
	}
}
