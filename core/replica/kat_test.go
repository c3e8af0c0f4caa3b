package replica

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package replica. The vector files in testdata/
// are checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat; every helper here is prefixed kat so
// as not to clash with the package's other tests.

func invitationVectors() []kat.Vector {
	v := func(name, groupSeed, nameHex, seq, lamport, expires string) kat.Vector {
		return kat.Vector{Name: name, In: map[string]string{
			"group_seed": groupSeed, "secret": kat.H(kat.Seq(0x50, 32)), "name": nameHex,
			"inviter_seed": kat.H(kat.Seq(0x01, 32)), "invite_seed": kat.H(kat.Seq(0x81, 32)),
			"inviter_device_seed": kat.H(kat.Seq(0x21, 32)), "inviter_seq": seq, "inviter_lamport": lamport,
			"expires": expires,
		}}
	}
	return []kat.Vector{
		v("basic", kat.H(kat.Seq(0x40, 32)), kat.H([]byte("Berty friends")), "1", "1", "1796688000"),
		v("no-head", kat.H(kat.Seq(0x40, 32)), "", "0", "0", "1"),
		v("limits", kat.H(kat.Seq(0xc0, 32)), kat.H(bytes.Repeat([]byte("é"), state.MaxName/2)), kat.Dec(feed.MaxSeq), kat.Dec(feed.MaxLamport), kat.Dec(state.MaxExpires)),
	}
}

// katInvitation makes the invitation a vector describes, signed by the
// inviter as Replica.Invite does.
func katInvitation(t testing.TB, in map[string]string) *Invitation {
	t.Helper()
	groupID := keys.FromSeed(kat.Hex32(t, in, "group_seed")).Public()
	inviter := keys.FromSeed(kat.Hex32(t, in, "inviter_seed"))
	inv := &Invitation{
		GroupID: groupID, Secret: kat.Hex32(t, in, "secret"), Name: string(kat.Hex(t, in, "name")),
		Inviter: inviter.Public(), InviteSeed: kat.Hex32(t, in, "invite_seed"),
		InviterDevice: keys.FromSeed(kat.Hex32(t, in, "inviter_device_seed")).Public(),
		InviterSeq:    kat.Uint(t, in, "inviter_seq"), InviterLamport: kat.Uint(t, in, "inviter_lamport"),
		Expires: kat.Uint(t, in, "expires"),
	}
	ik := keys.FromSeed(inv.InviteSeed)
	copy(inv.InviterSig[:], inviter.Sign(state.InvitationSigned(groupID, ik.Public(), inv.Expires)))
	return inv
}

func TestKATInvitation(t *testing.T) {
	kat.Check(t, "invitation.json",
		"Invitation.Encode (version 2) for the group whose ID key is FromSeed(group_seed), inviter FromSeed(inviter_seed) signing the key of FromSeed(invite_seed) and the expiry over state.InvitationSigned, inviter device FromSeed(inviter_device_seed); name is UTF-8 in hex, seq, lamport and expires (unix seconds) decimal; DecodeInvitation must give it back",
		invitationVectors(), func(t *testing.T, v kat.Vector) map[string]string {
			inv := katInvitation(t, v.In)
			enc := inv.Encode()
			got, err := DecodeInvitation(enc)
			if err != nil || !reflect.DeepEqual(got, inv) {
				t.Errorf("DecodeInvitation(Encode(x)) = %+v, %v; want %+v", got, err, inv)
			}
			if g := inv.Group(); g.Kind != group.KindMulti || g.ID != inv.GroupID || g.Secret != inv.Secret {
				t.Errorf("Group() = %+v", g)
			}
			ik := keys.FromSeed(inv.InviteSeed).Public()
			return map[string]string{
				"group_id":    kat.H(inv.GroupID[:]),
				"inviter":     kat.H(inv.Inviter[:]),
				"invite_key":  kat.H(ik[:]),
				"inviter_sig": kat.H(inv.InviterSig[:]),
				"encoded":     kat.H(enc),
			}
		})
}

// katReject is an encoding a decoder must refuse, and the error it must wrap.
type katReject struct {
	b    []byte
	want error
}

// katInvitationRejects are encodings DecodeInvitation must refuse.
func katInvitationRejects(t testing.TB) map[string]katReject {
	out := map[string]katReject{}
	add := func(name string, b []byte, want error) { out[name] = katReject{b, want} }
	for _, v := range invitationVectors() {
		inv := katInvitation(t, v.In)
		enc := inv.Encode()
		for n := range len(enc) {
			add(fmt.Sprintf("%s truncated to %d", v.Name, n), enc[:n], wire.ErrMalformed)
		}
		add(v.Name+" + trailing byte", append(bytes.Clone(enc), 0), wire.ErrMalformed)
		for _, ver := range []byte{0, 1, 3} {
			b := bytes.Clone(enc)
			b[0] = ver
			add(fmt.Sprintf("%s version %d", v.Name, ver), b, wire.ErrMalformed)
		}
		for _, change := range []struct {
			name string
			f    func(*Invitation)
		}{
			{"signature", func(x *Invitation) { x.InviterSig[10] ^= 1 }},
			{"group", func(x *Invitation) { x.GroupID[0] ^= 1 }},
			{"inviter", func(x *Invitation) { x.Inviter = x.InviterDevice }},
			{"invite seed", func(x *Invitation) { x.InviteSeed[31] ^= 1 }},
			{"expiry (altered after signing)", func(x *Invitation) { x.Expires-- }},
		} {
			x := *inv
			change.f(&x)
			add(v.Name+" other "+change.name, x.Encode(), keys.ErrBadSignature)
		}
		x := *inv
		x.Name = string(bytes.Repeat([]byte("n"), state.MaxName+1))
		add(v.Name+" name too long", x.Encode(), wire.ErrMalformed)
		x.Name = "caf\xe9"
		add(v.Name+" name not UTF-8", x.Encode(), wire.ErrMalformed)
		x = *inv
		x.InviterSeq = feed.MaxSeq + 1
		add(v.Name+" seq above MaxSeq", x.Encode(), wire.ErrMalformed)
		x = *inv
		x.InviterLamport = feed.MaxLamport + 1
		add(v.Name+" lamport above MaxLamport", x.Encode(), wire.ErrMalformed)
		x = *inv
		x.Expires = state.MaxExpires + 1
		add(v.Name+" expiry above MaxExpires", x.Encode(), wire.ErrMalformed)
	}
	return out
}

func TestDecodeInvitationRejects(t *testing.T) {
	for name, tc := range katInvitationRejects(t) {
		if inv, err := DecodeInvitation(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: DecodeInvitation = %+v, %v; want an error wrapping %v", name, inv, err, tc.want)
		}
	}
}
