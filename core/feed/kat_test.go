package feed_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package feed. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

// katEncode is an independent encoder of the entry layout of §4.1, written
// from the fields: version || topic || author || uvarint seq || prev ||
// uvarint lamport || uvarint #deps || (device || uvarint seq)* || kind ||
// uvarint len(payload) || payload || MAC || flag (1: signed) || signature.
func katEncode(version byte, e *feed.Entry) []byte {
	b := []byte{version}
	b = append(b, e.Topic[:]...)
	b = append(b, e.Author[:]...)
	b = wire.AppendUvarint(b, e.Seq)
	b = append(b, e.Prev[:]...)
	b = wire.AppendUvarint(b, e.Lamport)
	b = wire.AppendUvarint(b, uint64(len(e.Deps)))
	for _, d := range e.Deps {
		b = append(b, d.Device[:]...)
		b = wire.AppendUvarint(b, d.Seq)
	}
	b = append(b, byte(e.Kind))
	b = wire.AppendBytes(b, e.Payload)
	b = append(b, e.MAC[:]...)
	if !e.Signed {
		return append(b, 0)
	}
	b = append(b, 1)
	return append(b, e.Sig[:]...)
}

func entryVectors() []kat.Vector {
	base := func() map[string]string {
		return map[string]string{
			"topic": kat.H(kat.Seq(0x61, 32)), "author_seed": kat.H(kat.Seq(0x01, 32)), "replication": kat.H(kat.Seq(0x41, 32)),
		}
	}
	genesis := base()
	maps.Copy(genesis, map[string]string{
		"seq": "1", "prev": kat.H(make([]byte, 32)), "lamport": "1", "kind": "1", "payload": kat.H([]byte("announce")),
	})
	twoDeps := base()
	maps.Copy(twoDeps, map[string]string{
		"seq": "2", "prev": kat.H(kat.Seq(0xc0, 32)), "lamport": "7", "kind": "2", "payload": kat.H(kat.Seq(0x00, 100)),
		"dep0_device": kat.H(kat.Seq(0x20, 32)), "dep0_seq": "3",
		"dep1_device": kat.H(kat.Seq(0x90, 32)), "dep1_seq": "300",
	})
	large := base()
	maps.Copy(large, map[string]string{
		"seq": kat.Dec(feed.MaxSeq), "prev": kat.H(kat.Seq(0xe0, 32)), "lamport": kat.Dec(feed.MaxLamport), "kind": "1", "payload": kat.H(kat.Seq(0x80, 200)),
		"dep0_device": kat.H(kat.Seq(0x00, 32)), "dep0_seq": "128",
		"dep1_device": kat.H(bytes.Repeat([]byte{0xff}, 32)), "dep1_seq": kat.Dec(feed.MaxSeq),
	})
	return []kat.Vector{
		{Name: "genesis", In: genesis},
		{Name: "two-deps", In: twoDeps},
		{Name: "large-varints", In: large},
	}
}

// signVector signs the entry a vector describes.
func signVector(t testing.TB, in map[string]string) (e *feed.Entry, replication [32]byte) {
	t.Helper()
	u := &feed.Unsigned{
		Topic: kat.Hex32(t, in, "topic"), Seq: kat.Uint(t, in, "seq"), Prev: kat.Hex32(t, in, "prev"),
		Lamport: kat.Uint(t, in, "lamport"), Kind: feed.Kind(kat.Uint(t, in, "kind")), Payload: kat.Hex(t, in, "payload"),
	}
	for i := 0; ; i++ {
		key := fmt.Sprintf("dep%d_", i)
		if _, ok := in[key+"device"]; !ok {
			break
		}
		u.Deps = append(u.Deps, feed.Dep{Device: kat.Hex32(t, in, key+"device"), Seq: kat.Uint(t, in, key+"seq")})
	}
	replication = kat.Hex32(t, in, "replication")
	e, err := feed.Sign(u, &replication, keys.FromSeed(kat.Hex32(t, in, "author_seed")))
	if err != nil {
		t.Fatal(err)
	}
	return e, replication
}

func TestKATEntry(t *testing.T) {
	kat.Check(t, "entry.json",
		"feed.Sign of the Unsigned entry (topic, seq, prev, lamport, deps depN_device/depN_seq, kind, payload) with the replication key and the device key FromSeed(author_seed): the encoding, its ID (SHA-256 of the encoding up to and including the MAC), the HMAC-SHA256 under the replication key, the Ed25519 signature over SignContext(\"berty/v1/entry\", ID), and the unsigned encoding feed.Build gives (flag 0, no signature)",
		entryVectors(), func(t *testing.T, v kat.Vector) map[string]string {
			e, replication := signVector(t, v.In)
			if want := katEncode(feed.Version, e); !bytes.Equal(e.Encoded, want) {
				t.Errorf("encoding %x\ndiffers from the layout of §4.1: %x", e.Encoded, want)
			}
			if id := sha256.Sum256(e.Encoded[:len(e.Encoded)-65]); feed.ID(id) != e.ID {
				t.Errorf("ID %x is not the SHA-256 of the encoding up to the MAC", e.ID)
			}
			u, err := feed.Build(unsignedOfEntry(e), &replication, e.Author)
			if err != nil || u.ID != e.ID || u.Signed || !bytes.Equal(u.Encoded, katEncode(feed.Version, u)) {
				t.Errorf("Build: %+v, %v; want the unsigned form with the same ID", u, err)
			}
			d, err := feed.Decode(e.Encoded)
			if err != nil || !reflect.DeepEqual(d, e) {
				t.Errorf("Decode(encoding) = %+v, %v; want %+v", d, err, e)
			}
			if err := e.Verify(&e.Topic, &replication); err != nil {
				t.Errorf("Verify: %v", err)
			}
			other := e.Topic
			other[0] ^= 1
			if err := e.Verify(&other, &replication); !errors.Is(err, feed.ErrWrongGroup) {
				t.Errorf("Verify with another topic: %v, want ErrWrongGroup", err)
			}
			other = replication
			other[0] ^= 1
			if err := e.Verify(&e.Topic, &other); !errors.Is(err, feed.ErrBadMAC) {
				t.Errorf("Verify with another replication key: %v, want ErrBadMAC", err)
			}
			return map[string]string{
				"author":    kat.H(e.Author[:]),
				"encoded":   kat.H(e.Encoded),
				"id":        kat.H(e.ID[:]),
				"mac":       kat.H(e.MAC[:]),
				"signature": kat.H(e.Sig[:]),
				"unsigned":  kat.H(u.Encoded),
			}
		})
}

// TestVerifyRejectsEveryBitFlip flips each bit of the signed vectors: the
// result must not decode, or must not verify.
func TestVerifyRejectsEveryBitFlip(t *testing.T) {
	for _, v := range entryVectors() {
		e, replication := signVector(t, v.In)
		for i := range len(e.Encoded) * 8 {
			b := bytes.Clone(e.Encoded)
			b[i/8] ^= 1 << (i % 8)
			d, err := feed.Decode(b)
			if err != nil {
				continue
			}
			if err := d.Verify(&d.Topic, &replication); err == nil {
				t.Errorf("%s: entry with bit %d flipped verifies", v.Name, i)
			}
		}
	}
}

// rejectCases are encodings Decode must refuse, each a small change to a
// well-formed entry (MAC and signature are not checked by Decode).
func rejectCases() map[string][]byte {
	ok := func() *feed.Entry {
		return &feed.Entry{
			Topic: [32]byte(kat.Seq(0x61, 32)), Author: keys.Public(kat.Seq(0x80, 32)), Seq: 2, Prev: feed.ID(kat.Seq(0xc0, 32)),
			Lamport: 5, Deps: []feed.Dep{{Device: keys.Public(kat.Seq(0x10, 32)), Seq: 1}, {Device: keys.Public(kat.Seq(0x20, 32)), Seq: 2}},
			Kind: feed.KindMessage, Payload: []byte("payload"),
		}
	}
	with := func(change func(e *feed.Entry)) []byte {
		e := ok()
		change(e)
		return katEncode(feed.Version, e)
	}
	valid := katEncode(feed.Version, ok())
	cases := map[string][]byte{
		"empty":                {},
		"version 0":            katEncode(0, ok()),
		"version 2":            katEncode(2, ok()),
		"truncated":            valid[:len(valid)-1],
		"trailing byte":        append(bytes.Clone(valid), 0),
		"seq 0":                with(func(e *feed.Entry) { e.Seq = 0 }),
		"seq above MaxSeq":     with(func(e *feed.Entry) { e.Seq = feed.MaxSeq + 1 }),
		"lamport above limit":  with(func(e *feed.Entry) { e.Lamport = feed.MaxLamport + 1 }),
		"zero prev at seq 2":   with(func(e *feed.Entry) { e.Prev = feed.ID{} }),
		"prev at seq 1":        with(func(e *feed.Entry) { e.Seq, e.Kind = 1, feed.KindMetadata }),
		"message at seq 1":     with(func(e *feed.Entry) { e.Seq, e.Prev = 1, feed.ID{} }),
		"kind 0":               with(func(e *feed.Entry) { e.Kind = 0 }),
		"kind 3":               with(func(e *feed.Entry) { e.Kind = 3 }),
		"deps unsorted":        with(func(e *feed.Entry) { e.Deps[0], e.Deps[1] = e.Deps[1], e.Deps[0] }),
		"deps duplicate":       with(func(e *feed.Entry) { e.Deps[1].Device = e.Deps[0].Device }),
		"dep on the author":    with(func(e *feed.Entry) { e.Deps[1].Device = e.Author }),
		"dep seq 0":            with(func(e *feed.Entry) { e.Deps[0].Seq = 0 }),
		"dep seq above MaxSeq": with(func(e *feed.Entry) { e.Deps[0].Seq = feed.MaxSeq + 1 }),
		"too many deps": with(func(e *feed.Entry) {
			e.Deps = nil
			for i := range feed.MaxDeps + 1 {
				e.Deps = append(e.Deps, feed.Dep{Device: keys.Public{0: byte(i), 31: 1}, Seq: 1})
			}
		}),
		"payload too large":    with(func(e *feed.Entry) { e.Payload = make([]byte, feed.MaxPayload+1) }),
		"entry too large":      append(bytes.Clone(valid), make([]byte, feed.MaxEntrySize)...),
		"non-minimal seq":      bytes.Replace(valid, []byte{0x02, 0xc0, 0xc1}, []byte{0x82, 0x00, 0xc0, 0xc1}, 1),
		"non-minimal #deps":    bytes.Replace(valid, []byte{0x05, 0x02, 0x10}, []byte{0x05, 0x82, 0x00, 0x10}, 1),
		"payload past the end": valid[:len(valid)-64-32-4],
	}
	return cases
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range rejectCases() {
		if e, err := feed.Decode(b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: Decode = %+v, %v; want an error wrapping ErrMalformed", name, e, err)
		}
	}
}

func unsignedOfEntry(e *feed.Entry) *feed.Unsigned {
	return &feed.Unsigned{Topic: e.Topic, Seq: e.Seq, Prev: e.Prev, Lamport: e.Lamport, Deps: e.Deps, Kind: e.Kind, Payload: e.Payload}
}
