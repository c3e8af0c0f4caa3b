package rendezvous_test

import (
	"testing"

	"github.com/berty-go/berty/core/rendezvous"
	"github.com/berty-go/berty/internal/kat"
)

// TestKAT pins the points of every label. The group label's values are the
// ones net/p2p used before this package existed (its own test recomputes one
// with crypto/hmac directly).
func TestKAT(t *testing.T) {
	var vectors []kat.Vector
	for _, label := range []string{rendezvous.LabelGroup, rendezvous.LabelContact, rendezvous.LabelDeviceLink} {
		for _, p := range []uint64{0, 20413} {
			vectors = append(vectors, kat.Vector{
				Name: label + "/" + kat.Dec(p),
				In:   map[string]string{"key": kat.H(kat.Seq(0x40, 32)), "label": label, "period": kat.Dec(p)},
			})
		}
	}
	kat.Check(t, "points.json", "point = HMAC-SHA256(key, label || 0x00 || uint64be(period)) (docs/protocol.md §10.3)", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			p := rendezvous.At(kat.Hex(t, v.In, "key"), v.In["label"], kat.Uint(t, v.In, "period"))
			return map[string]string{"point": kat.H(p[:])}
		})
}

// TestKATProof pins the slot proofs (§11.4).
func TestKATProof(t *testing.T) {
	var vectors []kat.Vector
	for _, label := range []string{rendezvous.LabelGroup, rendezvous.LabelContact, rendezvous.LabelDeviceLink} {
		vectors = append(vectors, kat.Vector{
			Name: label,
			In: map[string]string{"key": kat.H(kat.Seq(0x40, 32)), "label": label, "point": kat.H(kat.Seq(0x80, 32)),
				"requester": kat.H(kat.Seq(0x10, 38)), "responder": kat.H(kat.Seq(0x20, 38))},
		})
	}
	kat.Check(t, "proofs.json", "proof = HMAC-SHA256(key, \"berty/v1/rendezvous-proof\" || 0x00 || label || 0x00 || point || u16be len || requester || u16be len || responder) (docs/protocol.md §11.4)", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			p := rendezvous.Proof(kat.Hex(t, v.In, "key"), v.In["label"], rendezvous.Point(kat.Hex(t, v.In, "point")),
				kat.Hex(t, v.In, "requester"), kat.Hex(t, v.In, "responder"))
			return map[string]string{"proof": kat.H(p[:])}
		})
}

// TestProofBinds: a proof is bound to the key, the label, the point and
// both peers, and the two peer IDs cannot be shifted into each other.
func TestProofBinds(t *testing.T) {
	key, pt := kat.Seq(1, 32), rendezvous.Point(kat.Seq(2, 32))
	a, b := kat.Seq(3, 38), kat.Seq(4, 38)
	p := rendezvous.Proof(key, rendezvous.LabelContact, pt, a, b)
	if !rendezvous.CheckProof(key, rendezvous.LabelContact, pt, a, b, p[:]) {
		t.Fatal("a proof does not check")
	}
	other := rendezvous.Point(kat.Seq(9, 32))
	for name, ok := range map[string]bool{
		"another key":      rendezvous.CheckProof(kat.Seq(5, 32), rendezvous.LabelContact, pt, a, b, p[:]),
		"another label":    rendezvous.CheckProof(key, rendezvous.LabelDeviceLink, pt, a, b, p[:]),
		"another point":    rendezvous.CheckProof(key, rendezvous.LabelContact, other, a, b, p[:]),
		"another sender":   rendezvous.CheckProof(key, rendezvous.LabelContact, pt, b, b, p[:]),
		"swapped peers":    rendezvous.CheckProof(key, rendezvous.LabelContact, pt, b, a, p[:]),
		"shifted boundary": rendezvous.CheckProof(key, rendezvous.LabelContact, pt, append(a, b[0]), b[1:], p[:]),
		"truncated":        rendezvous.CheckProof(key, rendezvous.LabelContact, pt, a, b, p[:31]),
	} {
		if ok {
			t.Errorf("%s: the proof checks", name)
		}
	}
}

// TestCurrentAcrossBoundary: a responder whose clock is up to an hour
// behind or ahead of the requester's still announces a point the requester
// looks up, and away from a boundary only one point is used.
func TestCurrentAcrossBoundary(t *testing.T) {
	key := kat.Seq(1, 32)
	const day = 20413 * rendezvous.Period
	meet := func(responder, requester uint64) bool {
		ann, _ := rendezvous.Current(key, rendezvous.LabelContact, responder)
		_, look := rendezvous.Current(key, rendezvous.LabelContact, requester)
		for _, a := range ann {
			for _, l := range look {
				if a == l {
					return true
				}
			}
		}
		return false
	}
	for _, c := range []struct {
		name                 string
		responder, requester uint64
		want                 bool
	}{
		{"same time mid-day", day + 40000, day + 40000, true},
		{"responder 59 min behind, across midnight", day - 59*60, day + 10, true},
		{"requester 59 min behind, across midnight", day + 59*60, day - 10, true},
		{"a day apart", day + 40000, day + 40000 + rendezvous.Period, false},
		{"three hours apart across midnight", day - 2*60*60, day + 60*60 + 1, false},
	} {
		if got := meet(c.responder, c.requester); got != c.want {
			t.Errorf("%s: meet = %v, want %v", c.name, got, c.want)
		}
	}
	ann, look := rendezvous.Current(key, rendezvous.LabelContact, day+40000)
	if len(ann) != 1 || len(look) != 1 {
		t.Errorf("mid-day: %d announced, %d looked up; want 1 and 1", len(ann), len(look))
	}
	if rendezvous.At(key, rendezvous.LabelContact, 5) == rendezvous.At(key, rendezvous.LabelGroup, 5) {
		t.Error("two labels share a point")
	}
	if rendezvous.At(key, rendezvous.LabelContact, 5) == rendezvous.At(kat.Seq(2, 32), rendezvous.LabelContact, 5) {
		t.Error("two keys share a point")
	}
}
