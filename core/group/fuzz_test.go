package group_test

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzContact derives a contact group with an arbitrary public key, as from
// a contact request off the network. It must never panic; it must refuse
// oneself with ErrSelfContact; a group it makes must be a consistent contact
// group owned by both keys.
func FuzzContact(f *testing.F) {
	own, other := kat.Seq(0x01, 32), keys.FromSeed([32]byte(kat.Seq(0x21, 32))).Public()
	f.Add(own, other[:])
	self := keys.FromSeed([32]byte(own)).Public()
	f.Add(own, self[:])
	for _, k := range katBadContactKeys {
		b, _ := hex.DecodeString(k.key)
		f.Add(own, b)
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, seed, otherKey []byte) {
		var s [32]byte
		var o keys.Public
		copy(s[:], seed)
		copy(o[:], otherKey)
		a := keys.FromSeed(s)
		g, err := group.Contact(a, o)
		if o == a.Public() {
			if !errors.Is(err, group.ErrSelfContact) {
				t.Fatalf("contact with oneself: %v", err)
			}
			return
		}
		if err != nil {
			return
		}
		if g.Kind != group.KindContact || len(g.Owners) != 2 || !g.IsOwner(a.Public()) || !g.IsOwner(o) {
			t.Fatalf("contact group %+v", g)
		}
		if g.IDSeed == nil || keys.FromSeed(*g.IDSeed).Public() != g.ID {
			t.Fatal("ID is not the key of IDSeed")
		}
		if want := group.New(group.KindContact, g.ID, g.Secret, g.Owners); !reflect.DeepEqual(want.Keys, g.Keys) {
			t.Fatal("keys differ from group.New's")
		}
	})
}
