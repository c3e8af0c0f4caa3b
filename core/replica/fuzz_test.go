package replica

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzDecodeInvitation decodes arbitrary bytes as an invitation. Nothing may
// panic; errors must be malformed input or a bad signature; an invitation
// that decodes must be canonical (Encode gives back the identical bytes).
func FuzzDecodeInvitation(f *testing.F) {
	for _, v := range invitationVectors() {
		f.Add(katInvitation(f, v.In).Encode())
	}
	for _, tc := range katInvitationRejects(f) {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := DecodeInvitation(data)
		if err != nil {
			if inv != nil || !(errors.Is(err, wire.ErrMalformed) || errors.Is(err, keys.ErrBadSignature)) {
				t.Fatalf("DecodeInvitation = %+v, %v", inv, err)
			}
			return
		}
		if enc := inv.Encode(); !bytes.Equal(enc, data) {
			t.Fatalf("non-canonical invitation accepted: input %x\nre-encodes to %x", data, enc)
		}
		if g := inv.Group(); g.ID != inv.GroupID {
			t.Fatalf("Group() = %+v", g)
		}
	})
}

// katLookup is an in-memory feed.Lookup for the fuzz seeds.
type katLookup map[keys.Public]map[uint64]feed.Head

func (l katLookup) Entry(d keys.Public, s uint64) (feed.Head, bool, error) {
	h, ok := l[d][s]
	return h, ok, nil
}

// katPeer is a replica with its store, persisting every Ready before
// publishing its outbox, as an application must.
type katPeer struct {
	r     *Replica
	store katLookup
	snaps [][]byte // every snapshot the replica produced
}

func (p *katPeer) flush(net *[][]byte) {
	rd := p.r.Ready()
	for _, tr := range rd.Truncations {
		for s := range p.store[tr.Device] {
			if s > tr.After {
				delete(p.store[tr.Device], s)
			}
		}
	}
	for _, e := range rd.Entries {
		if p.store[e.Author] == nil {
			p.store[e.Author] = map[uint64]feed.Head{}
		}
		p.store[e.Author][e.Seq] = feed.Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}
	}
	if rd.Snapshot != nil {
		p.snaps = append(p.snaps, rd.Snapshot)
	}
	for _, e := range rd.Outbox {
		*net = append(*net, e.Encoded)
	}
	p.r.Advance()
}

// katContactConfigs returns the configurations of two devices, one per
// account, in the contact group of the two accounts.
func katContactConfigs(t testing.TB) (a, b Config) {
	t.Helper()
	accA, accB := keys.FromSeed([32]byte(kat.Seq(0x01, 32))), keys.FromSeed([32]byte(kat.Seq(0x21, 32)))
	ga, err := group.Contact(accA, accB.Public())
	if err != nil {
		t.Fatal(err)
	}
	gb, err := group.Contact(accB, accA.Public())
	if err != nil {
		t.Fatal(err)
	}
	a = Config{Group: ga, Account: accA, Device: keys.FromSeed([32]byte(kat.Seq(0x41, 32))), Rand: kat.NewRand([]byte("a"))}
	b = Config{Group: gb, Account: accB, Device: keys.FromSeed([32]byte(kat.Seq(0x61, 32))), Rand: kat.NewRand([]byte("b"))}
	return a, b
}

// katSnapshots runs a short conversation between two devices of a contact
// group and returns every snapshot they produced.
func katSnapshots(t testing.TB) [][]byte {
	t.Helper()
	ca, cb := katContactConfigs(t)
	var peers []*katPeer
	for _, c := range []Config{ca, cb} {
		r, err := New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, &katPeer{r: r, store: katLookup{}})
	}
	var net [][]byte
	deliver := func() {
		for len(net) > 0 {
			raw := net[0]
			net = net[1:]
			for _, p := range peers {
				if _, err := p.r.Receive(raw, p.store); err != nil {
					t.Logf("receive: %v", err)
				}
				p.flush(&net)
			}
		}
	}
	for _, p := range peers {
		if err := p.r.AnnounceOwner(p.store); err != nil {
			t.Fatal(err)
		}
		p.flush(&net)
	}
	deliver()
	for i, body := range []string{"hello", "how are you?", "fine"} {
		p := peers[i%2]
		if _, err := p.r.Send([]byte(body), p.store); err != nil {
			t.Fatal(err)
		}
		p.flush(&net)
		if i != 0 {
			deliver()
		}
	}
	deliver()
	if err := peers[0].r.Tick(DefaultRotateAfter+1, peers[0].store); err != nil {
		t.Fatal(err)
	}
	peers[0].flush(&net)
	deliver()
	var snaps [][]byte
	for _, p := range peers {
		for _, s := range p.snaps {
			if !slices.ContainsFunc(snaps, func(x []byte) bool { return bytes.Equal(x, s) }) {
				snaps = append(snaps, s)
			}
		}
	}
	return snaps
}

// katRichSnapshot restores snap and fills in what a short conversation does
// not produce — skipped message keys, a frozen device, messages waiting for a
// key, a pending rotation, a clock — so that the seeds reach every part of
// the snapshot format.
func katRichSnapshot(t testing.TB, cfg Config, snap []byte) []byte {
	t.Helper()
	r, err := New(cfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.recv) == 0 {
		t.Fatal("the snapshot holds no receiving chain")
	}
	for d, rc := range r.recv {
		rc.Skipped = map[uint32][32]byte{rc.Counter + 3: [32]byte(kat.Seq(0x33, 32)), rc.Counter + 9: [32]byte(kat.Seq(0x99, 32))}
		rc.Counter += 10
		r.undecrypted[d] = []uint64{4, 7}
	}
	r.tracker.Freeze(keys.Public(kat.Seq(0xee, 32)), 5)
	r.rotate, r.now = true, 1_700_000_000
	rich := r.snapshot()
	if _, err := New(cfg, rich); err != nil {
		t.Fatalf("the enriched snapshot does not restore: %v", err)
	}
	return rich
}

// FuzzSnapshot restores a replica from arbitrary snapshot bytes. New must
// return an error or a replica, never panic. A restored replica must
// snapshot to bytes that restore to the same snapshot (a fixed point), must
// survive a Tick (at a non-negative time) and a Send, and the snapshot it
// then writes must restore too.
func FuzzSnapshot(f *testing.F) {
	_, cfg := katContactConfigs(f)
	snaps := katSnapshots(f)
	if len(snaps) == 0 {
		f.Fatal("the conversation produced no snapshot")
	}
	for i, s := range snaps {
		if _, err := New(cfg, s); err != nil {
			f.Fatalf("a real snapshot does not restore: %v", err)
		}
		f.Add(s, uint32(i))
	}
	last := snaps[len(snaps)-1]
	f.Add(katRichSnapshot(f, cfg, last), uint32(DefaultRotateAfter*2))
	for _, n := range []int{0, 1, len(last) / 3, len(last) / 2, len(last) - 1} {
		f.Add(last[:n], uint32(0))
	}
	f.Add(append(bytes.Clone(last), 0), uint32(0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint32(0))
	f.Add([]byte{2}, uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, now uint32) {
		cfg := cfg
		cfg.Rand = kat.NewRand(data)
		r, err := New(cfg, data)
		if err != nil {
			if r != nil {
				t.Fatal("New returned a replica with its error")
			}
			return
		}
		if data == nil {
			return
		}
		s1 := r.snapshot()
		r2, err := New(cfg, s1)
		if err != nil {
			t.Fatalf("the snapshot of a restored replica does not restore: %v\nsnapshot %x", err, s1)
		}
		if s2 := r2.snapshot(); !bytes.Equal(s1, s2) {
			t.Fatalf("snapshot is not a fixed point:\n%x\n%x", s1, s2)
		}
		lk := katLookup{}
		_ = r.Tick(int64(now), lk)
		_, _ = r.Send([]byte("after restore"), lk)
		if snap := r.Ready().Snapshot; snap != nil {
			if _, err := New(cfg, snap); err != nil {
				t.Fatalf("a snapshot written after restore, Tick(%d) and Send does not restore: %v", now, err)
			}
		}
	})
}

// FuzzParseBox: the plaintext of a sealed box comes from another device. It
// parses strictly — flags, an optional chain, a bounded list of secrets, an
// optional history bitmap, nothing after — and what parses encodes back to
// the same bytes.
func FuzzParseBox(f *testing.F) {
	h := &heldEpoch{}
	h.Secret[0] = 9
	f.Add(boxPlaintext(make([]byte, 36), nil, nil))
	f.Add(boxPlaintext(nil, []*heldEpoch{h, h}, nil))
	f.Add(boxPlaintext(make([]byte, 36), []*heldEpoch{h}, nil))
	f.Add(boxPlaintext(nil, []*heldEpoch{h, h, h, h, h, h, h, h, h}, []bool{false, true, false, false, false, false, false, false, true}))
	f.Add(boxPlaintext(make([]byte, 36), []*heldEpoch{h}, []bool{true}))
	f.Add([]byte{2, 1, 0, 0})
	f.Add([]byte{4})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, secrets, history, err := parseBox(data)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("parseBox error %v is not ErrMalformed", err)
			}
			return
		}
		var hs []*heldEpoch
		for _, s := range secrets {
			hs = append(hs, &heldEpoch{Epoch: group.Epoch{Secret: s}})
		}
		if len(history) != len(secrets) {
			t.Fatalf("%d history marks for %d secrets", len(history), len(secrets))
		}
		if got := boxPlaintext(chain, hs, history); !bytes.Equal(got, data) {
			t.Fatalf("box %x parses and encodes back as %x", data, got)
		}
	})
}
