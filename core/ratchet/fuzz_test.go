package ratchet_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzOpen opens arbitrary input as a message bound to an arbitrary seq,
// with a receiving chain at an arbitrary counter. Nothing may panic; a
// failed Open must leave the chain as it was; an opened message must not
// open a second time (each key opens one message).
func FuzzOpen(f *testing.F) {
	hk := [32]byte(kat.Seq(0x41, 32))
	ck := [32]byte(kat.Seq(0x01, 32))
	topic, author := [32]byte(kat.Seq(0x61, 32)), [32]byte(kat.Seq(0x81, 32))
	for i, c := range []uint32{0, 1, 5, 1500} {
		for _, epoch := range []uint32{1, 2} {
			_, next := katChain(ck, int(c))
			s := &ratchet.Send{Epoch: epoch, Counter: c, CK: next}
			seq := uint64(i + 2)
			bind := ratchet.Binding{Topic: topic, Author: author, Seq: seq}
			sealed, err := ratchet.SealMessage(s, &hk, &bind, []byte("fuzz seed"), kat.NewRand([]byte{byte(i)}))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(seq, uint32(0), sealed)
			f.Add(seq, c, sealed)
			f.Add(seq, c+1, sealed)
			f.Add(seq+1, uint32(0), sealed)
			f.Add(seq, uint32(0), sealed[:len(sealed)-1])
			f.Add(seq, uint32(0), sealed[:ratchet.SealedHeaderSize])
		}
	}
	f.Add(uint64(0), uint32(0), []byte{})
	// chainAt[i] is the chain key at position i; a receiving chain starting at
	// counter c holds chainAt[c % len(chainAt)], the right key for the seeds.
	chainAt := make([][32]byte, 2048)
	chainAt[0] = ck
	for i := 1; i < len(chainAt); i++ {
		_, chainAt[i] = ratchet.Step(&chainAt[i-1])
	}
	f.Add(uint64(1), uint32(0), bytes.Repeat([]byte{0xaa}, ratchet.SealedHeaderSize+seal.Overhead))
	f.Fuzz(func(t *testing.T, seq uint64, start uint32, sealed []byte) {
		bind := ratchet.Binding{Topic: topic, Author: author, Seq: seq}
		r := ratchet.NewRecv(1, start, chainAt[int(start)%len(chainAt)])
		before := r.Clone()
		input := bytes.Clone(sealed)
		epoch, counter, herr := ratchet.OpenHeader(&hk, &bind, sealed)
		var mk [32]byte
		if _, err := ratchet.OpenBody(&mk, &bind, sealed); err == nil {
			t.Fatal("OpenBody accepted a message under the zero key")
		}
		pt, err := ratchet.Open(r, &hk, &bind, sealed)
		if !bytes.Equal(sealed, input) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if !reflect.DeepEqual(r, before) {
				t.Fatalf("failed Open (%v) changed the chain: %+v -> %+v", err, before, r)
			}
			switch {
			case errors.Is(err, seal.ErrOpen), errors.Is(err, ratchet.ErrWrongEpoch),
				errors.Is(err, ratchet.ErrKeyUsed), errors.Is(err, ratchet.ErrTooFarAhead):
			default:
				t.Fatalf("Open: unexpected error %v", err)
			}
			return
		}
		if herr != nil || epoch != 1 {
			t.Fatalf("Open succeeded but OpenHeader = %d, %d, %v", epoch, counter, herr)
		}
		if len(pt) != len(sealed)-ratchet.SealedHeaderSize-seal.Overhead {
			t.Fatalf("Open returned %d bytes of a %d-byte message", len(pt), len(sealed))
		}
		if _, err := ratchet.Open(r, &hk, &bind, sealed); !errors.Is(err, ratchet.ErrKeyUsed) {
			t.Fatalf("message at counter %d opened twice (second: %v)", counter, err)
		}
	})
}
