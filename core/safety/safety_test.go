package safety_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/internal/kat"
)

func vectors() []kat.Vector {
	v := func(name string, a, b byte) kat.Vector {
		return kat.Vector{Name: name, In: map[string]string{"a_seed": kat.H(kat.Seq(a, 32)), "b_seed": kat.H(kat.Seq(b, 32))}}
	}
	return []kat.Vector{v("seq01-seq21", 0x01, 0x21), v("seq61-seq01", 0x61, 0x01)}
}

// TestKATNumbers pins the safety number of §11.8.
func TestKATNumbers(t *testing.T) {
	kat.Check(t, "numbers.json",
		"safety.Number(FromSeed(a_seed).Public(), FromSeed(b_seed).Public()): per key h0 = SHA-512(\"berty/v2/safety-number\" || 0x00 || 0x01 || key), 5200 times h = SHA-512(h || key), 6 × (5 bytes BE mod 100000 as 5 digits); the lower key's 30 digits first; code = \"BERTY-SN:1:\" || digits",
		vectors(), func(t *testing.T, v kat.Vector) map[string]string {
			a, b := keys.FromSeed(kat.Hex32(t, v.In, "a_seed")).Public(), keys.FromSeed(kat.Hex32(t, v.In, "b_seed")).Public()
			n, err := safety.Number(a, b)
			if err != nil {
				t.Fatal(err)
			}
			return map[string]string{"a": kat.H(a[:]), "b": kat.H(b[:]), "number": n, "code": safety.Code(n)}
		})
}

// TestNumberIsSharedAndChangesWithAKey: both sides get the same digits;
// another key on either side gives another number, different in both
// halves' worth of digits one would compare.
func TestNumberIsSharedAndChangesWithAKey(t *testing.T) {
	alice, bob, alice2 := keys.FromSeed([32]byte{1}).Public(), keys.FromSeed([32]byte{2}).Public(), keys.FromSeed([32]byte{3}).Public()
	ab, err := safety.Number(alice, bob)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := safety.Number(bob, alice)
	if ab != ba || len(ab) != safety.Digits {
		t.Fatalf("alice sees %s, bob %s", ab, ba)
	}
	changed, _ := safety.Number(alice2, bob)
	if changed == ab {
		t.Fatal("a new key on one side gives the same number")
	}
	if _, err := safety.Number(alice, alice); err == nil {
		t.Fatal("a number of a key with itself")
	}
}

func TestParse(t *testing.T) {
	n, _ := safety.Number(keys.FromSeed([32]byte{1}).Public(), keys.FromSeed([32]byte{2}).Public())
	for _, in := range []string{n, safety.Format(n), "  " + safety.Format(n) + "\n", safety.Code(n), strings.ToLower(safety.Code(n))} {
		if got, err := safety.Parse(in); err != nil || got != n {
			t.Errorf("Parse(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", n[:59], n + "1", "BERTY-SN:2:" + n, "BERTY-SN:1" + n, n[:10] + "x" + n[11:], "١" + n[1:]} {
		if _, err := safety.Parse(in); !errors.Is(err, safety.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	n, _ := safety.Number(keys.FromSeed([32]byte{1}).Public(), keys.FromSeed([32]byte{2}).Public())
	for _, s := range []string{n, safety.Format(n), safety.Code(n), "", "BERTY-SN:", n[:59]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := safety.Parse(s)
		if err != nil {
			if !errors.Is(err, safety.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(got) != safety.Digits || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("Parse(%q) = %q", s, got)
		}
		if again, err := safety.Parse(safety.Code(got)); err != nil || again != got {
			t.Fatalf("the code of %q parses to %q, %v", got, again, err)
		}
	})
}

// BenchmarkNumber: what showing a safety number costs (two fingerprints of
// 5 200 SHA-512 each).
func BenchmarkNumber(b *testing.B) {
	a, c := keys.FromSeed([32]byte{1}).Public(), keys.FromSeed([32]byte{2}).Public()
	for b.Loop() {
		if _, err := safety.Number(a, c); err != nil {
			b.Fatal(err)
		}
	}
}
