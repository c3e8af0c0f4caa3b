package replica

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// Known-answer vectors for package replica. The vector files in testdata/
// are checked by every plain `go test`; `go test -update` rewrites them.
// Every helper here is prefixed kat so as not to clash with the package's
// other tests.

var updateKAT = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/ instead of checking them")

// katVector is one known-answer vector: In is what the test feeds in, Out
// what it must get back. Byte strings are hex, integers decimal.
type katVector struct {
	Name string            `json:"name"`
	In   map[string]string `json:"in"`
	Out  map[string]string `json:"out,omitempty"`
}

type katFile struct {
	Comment string      `json:"comment"`
	Vectors []katVector `json:"vectors"`
}

// checkKAT recomputes the outputs of every vector in testdata/file from its
// inputs and compares them byte for byte with the recorded ones. With
// -update it rewrites the file from vectors instead.
func checkKAT(t *testing.T, file, comment string, vectors []katVector, compute func(t *testing.T, v katVector) map[string]string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *updateKAT {
		out := katFile{Comment: comment}
		for _, v := range vectors {
			v.Out = compute(t, v)
			out.Vectors = append(out.Vectors, v)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test -run '^%s$' -update)", err, t.Name())
	}
	var f katFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Vectors) != len(vectors) {
		t.Errorf("%s holds %d vectors, the test defines %d (regenerate with -update if intended)", path, len(f.Vectors), len(vectors))
	}
	for i, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if i >= len(vectors) || vectors[i].Name != v.Name || !maps.Equal(vectors[i].In, v.In) {
				t.Errorf("inputs recorded in %s differ from the test's (regenerate with -update if intended)", path)
			}
			katDiff(t, v.Out, compute(t, v))
		})
	}
}

// katDiff reports every output that differs from the recorded one.
func katDiff(t *testing.T, want, got map[string]string) {
	t.Helper()
	all := maps.Clone(want)
	maps.Copy(all, got)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !wok:
			t.Errorf("output %q = %s is not in the vector file", k, g)
		case !gok:
			t.Errorf("output %q missing; want %s", k, w)
		case w != g:
			i := 0
			for i < len(w) && i < len(g) && w[i] == g[i] {
				i++
			}
			t.Errorf("output %q differs from character %d:\nwant %s\n got %s", k, i, w, g)
		}
	}
}

func katHex(t testing.TB, in map[string]string, key string) []byte {
	t.Helper()
	s, ok := in[key]
	if !ok {
		t.Fatalf("input %q missing", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return b
}

func katUint(t testing.TB, in map[string]string, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(in[key], 10, 64)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return v
}

func katDec(v uint64) string { return strconv.FormatUint(v, 10) }

func katHex32(t testing.TB, in map[string]string, key string) (a [32]byte) {
	t.Helper()
	b := katHex(t, in, key)
	if len(b) != 32 {
		t.Fatalf("input %q is %d bytes, want 32", key, len(b))
	}
	return [32]byte(b)
}

func katHx(b []byte) string { return hex.EncodeToString(b) }

// katSeq returns the n bytes first, first+1, ... (mod 256): the fixed seeds
// and keys of the vectors.
func katSeq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// katRand is the deterministic randomness of the vectors: the concatenation
// of SHA-256(seed || uint64be(i)) for i = 0, 1, 2, ...
type katRand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func newKatRand(seed []byte) *katRand { return &katRand{seed: bytes.Clone(seed)} }

func (r *katRand) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			block := sha256.Sum256(binary.BigEndian.AppendUint64(bytes.Clone(r.seed), r.ctr))
			r.ctr++
			r.buf = block[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return len(p), nil
}

func invitationVectors() []katVector {
	v := func(name, groupSeed, nameHex, seq, lamport string) katVector {
		return katVector{Name: name, In: map[string]string{
			"group_seed": groupSeed, "secret": katHx(katSeq(0x50, 32)), "name": nameHex,
			"inviter_seed": katHx(katSeq(0x01, 32)), "invite_seed": katHx(katSeq(0x81, 32)),
			"inviter_device_seed": katHx(katSeq(0x21, 32)), "inviter_seq": seq, "inviter_lamport": lamport,
		}}
	}
	return []katVector{
		v("basic", katHx(katSeq(0x40, 32)), katHx([]byte("Berty friends")), "1", "1"),
		v("no-head", katHx(katSeq(0x40, 32)), "", "0", "0"),
		v("limits", katHx(katSeq(0xc0, 32)), katHx(bytes.Repeat([]byte("é"), state.MaxName/2)), katDec(feed.MaxSeq), katDec(feed.MaxLamport)),
	}
}

// katInvitation makes the invitation a vector describes, signed by the
// inviter as Replica.Invite does.
func katInvitation(t testing.TB, in map[string]string) *Invitation {
	t.Helper()
	groupID := keys.FromSeed(katHex32(t, in, "group_seed")).Public()
	inviter := keys.FromSeed(katHex32(t, in, "inviter_seed"))
	inv := &Invitation{
		GroupID: groupID, Secret: katHex32(t, in, "secret"), Name: string(katHex(t, in, "name")),
		Inviter: inviter.Public(), InviteSeed: katHex32(t, in, "invite_seed"),
		InviterDevice: keys.FromSeed(katHex32(t, in, "inviter_device_seed")).Public(),
		InviterSeq:    katUint(t, in, "inviter_seq"), InviterLamport: katUint(t, in, "inviter_lamport"),
	}
	ik := keys.FromSeed(inv.InviteSeed)
	copy(inv.InviterSig[:], inviter.Sign(state.InvitationSigned(groupID, ik.Public())))
	return inv
}

func TestKATInvitation(t *testing.T) {
	checkKAT(t, "invitation.json",
		"Invitation.Encode for the group whose ID key is FromSeed(group_seed), inviter FromSeed(inviter_seed) signing the key of FromSeed(invite_seed) over state.InvitationSigned, inviter device FromSeed(inviter_device_seed); name is UTF-8 in hex, seq and lamport decimal; DecodeInvitation must give it back",
		invitationVectors(), func(t *testing.T, v katVector) map[string]string {
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
				"group_id":    katHx(inv.GroupID[:]),
				"inviter":     katHx(inv.Inviter[:]),
				"invite_key":  katHx(ik[:]),
				"inviter_sig": katHx(inv.InviterSig[:]),
				"encoded":     katHx(enc),
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
		for _, ver := range []byte{0, 2} {
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
		} {
			x := *inv
			change.f(&x)
			add(v.Name+" other "+change.name, x.Encode(), keys.ErrBadSignature)
		}
		x := *inv
		x.Name = string(bytes.Repeat([]byte("n"), state.MaxName+1))
		add(v.Name+" name too long", x.Encode(), wire.ErrMalformed)
		x = *inv
		x.InviterSeq = feed.MaxSeq + 1
		add(v.Name+" seq above MaxSeq", x.Encode(), wire.ErrMalformed)
		x = *inv
		x.InviterLamport = feed.MaxLamport + 1
		add(v.Name+" lamport above MaxLamport", x.Encode(), wire.ErrMalformed)
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
