package feed_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzDecode decodes arbitrary bytes as an entry. Nothing may panic; errors
// must wrap wire.ErrMalformed; a decoded entry must be canonical (the fields
// re-encode to exactly the input), must not alias the input, must decode
// again to the same entry, and Verify must not panic on it.
func FuzzDecode(f *testing.F) {
	replication := [32]byte(kat.Seq(0x41, 32))
	for _, v := range entryVectors() {
		e, _ := signVector(f, v.In)
		f.Add(e.Encoded)
		if u, err := feed.Build(unsignedOfEntry(e), &replication, e.Author); err == nil {
			f.Add(u.Encoded) // the unsigned form (§4.5)
		}
		f.Add(e.Encoded[:len(e.Encoded)-1])
		f.Add(e.Encoded[:len(e.Encoded)/2])
		f.Add(append(bytes.Clone(e.Encoded), 0))
	}
	for _, b := range rejectCases() {
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := feed.Decode(data)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) || e != nil {
				t.Fatalf("Decode = %v, %v; want nil and an error wrapping ErrMalformed", e, err)
			}
			return
		}
		if !bytes.Equal(e.Encoded, data) {
			t.Fatalf("Encoded = %x, input %x", e.Encoded, data)
		}
		if len(data) > 0 && &e.Encoded[0] == &data[0] {
			t.Fatal("Encoded aliases the input")
		}
		if enc := katEncode(feed.Version, e); !bytes.Equal(enc, data) {
			t.Fatalf("non-canonical entry accepted: input %x\nre-encodes to %x", data, enc)
		}
		idEnd := len(data) - 1
		if e.Signed {
			idEnd -= 64
		}
		if id := sha256.Sum256(data[:idEnd]); feed.ID(id) != e.ID {
			t.Fatalf("ID %x, want %x (SHA-256 up to the MAC)", e.ID, id)
		}
		again, err := feed.Decode(e.Encoded)
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("Decode(Encoded) = %+v, %v; want %+v", again, err, e)
		}
		switch err := e.Verify(&e.Topic, &replication); {
		case err == nil, errors.Is(err, feed.ErrBadMAC), errors.Is(err, feed.ErrBadSignature):
		default:
			t.Fatalf("Verify: unexpected error %v", err)
		}
	})
}
