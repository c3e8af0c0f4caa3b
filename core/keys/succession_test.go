package keys_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

func successionVectors() []kat.Vector {
	v := func(name string, old, next byte) kat.Vector {
		return kat.Vector{Name: name, In: map[string]string{
			"old_seed": kat.H(kat.Seq(old, 32)), "new_seed": kat.H(kat.Seq(next, 32)),
		}}
	}
	return []kat.Vector{v("seq01-seq21", 0x01, 0x21), v("seq21-seq61", 0x21, 0x61)}
}

// TestKATSuccession pins the succession record (docs/protocol.md §5.9):
// the signed context and the encoding.
func TestKATSuccession(t *testing.T) {
	kat.Check(t, "succession.json",
		"keys.NewSuccession(FromSeed(old_seed), FromSeed(new_seed)): both keys sign SignContext(\"berty/v2/succession\", old || new); encoding old[32] new[32] oldSig[64] newSig[64]",
		successionVectors(), func(t *testing.T, v kat.Vector) map[string]string {
			s := keys.NewSuccession(keys.FromSeed(kat.Hex32(t, v.In, "old_seed")), keys.FromSeed(kat.Hex32(t, v.In, "new_seed")))
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			enc := s.Append(nil)
			r := wire.NewReader(enc)
			if got := keys.ReadSuccession(r); r.Done() != nil || got != s {
				t.Errorf("decode: %+v, %v", got, r.Done())
			}
			return map[string]string{
				"signed":  kat.H(keys.SignContext("berty/v2/succession", s.Old[:], s.New[:])),
				"encoded": kat.H(enc),
			}
		})
}

// TestSuccessionRefusesForgeries: a record counts only with both keys'
// signatures over both keys — the holder of an old key cannot name another
// person's key as its successor, and a record cannot be turned around.
func TestSuccessionRefusesForgeries(t *testing.T) {
	old, next, other := keys.FromSeed([32]byte{1}), keys.FromSeed([32]byte{2}), keys.FromSeed([32]byte{3})
	good := keys.NewSuccession(old, next)
	decode := func(s keys.Succession) error {
		r := wire.NewReader(s.Append(nil))
		keys.ReadSuccession(r)
		return r.Done()
	}
	if err := decode(good); err != nil {
		t.Fatalf("good record refused: %v", err)
	}
	named := good
	named.New = other.Public() // old signs, but other never agreed
	o, n := old.Public(), other.Public()
	copy(named.OldSig[:], old.Sign(keys.SignContext("berty/v2/succession", o[:], n[:])))
	reversed := keys.Succession{Old: good.New, New: good.Old, OldSig: good.NewSig, NewSig: good.OldSig}
	self := keys.NewSuccession(old, old)
	for name, s := range map[string]keys.Succession{"another's key named": named, "reversed": reversed, "a key succeeding itself": self} {
		if err := s.Verify(); !errors.Is(err, keys.ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", name, err)
		}
		if decode(s) == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	enc := good.Append(nil)
	for i := range enc {
		b := bytes.Clone(enc)
		b[i] ^= 0x10
		r := wire.NewReader(b)
		keys.ReadSuccession(r)
		if r.Done() == nil {
			t.Fatalf("bit flip at byte %d decoded", i)
		}
	}
}

func FuzzReadSuccession(f *testing.F) {
	for _, v := range successionVectors() {
		s := keys.NewSuccession(keys.FromSeed(kat.Hex32(f, v.In, "old_seed")), keys.FromSeed(kat.Hex32(f, v.In, "new_seed")))
		enc := s.Append(nil)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(append(bytes.Clone(enc), 0))
	}
	f.Add([]byte{})
	f.Add(make([]byte, keys.SuccessionSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := wire.NewReader(data)
		s := keys.ReadSuccession(r)
		if r.Done() != nil {
			return
		}
		if len(data) != keys.SuccessionSize || !bytes.Equal(s.Append(nil), data) {
			t.Fatalf("decoded %d bytes that do not encode back", len(data))
		}
		if s.Verify() != nil {
			t.Fatal("decoded a record that does not verify")
		}
	})
}
