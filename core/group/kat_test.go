package group_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
)

// Known-answer vectors for package group. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.

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

func dec(v uint64) string { return strconv.FormatUint(v, 10) }

func katHex32(t testing.TB, in map[string]string, key string) (a [32]byte) {
	t.Helper()
	b := katHex(t, in, key)
	if len(b) != 32 {
		t.Fatalf("input %q is %d bytes, want 32", key, len(b))
	}
	return [32]byte(b)
}

func hx(b []byte) string { return hex.EncodeToString(b) }

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

// groupOutputs are the recorded values of a group; IDSeed, when known, must
// be the seed of the group ID and the keys must be those group.New expands.
func groupOutputs(t *testing.T, g *group.Group) map[string]string {
	t.Helper()
	if want := group.New(g.Kind, g.ID, g.Secret, g.Owners); !reflect.DeepEqual(g.Keys, want.Keys) || !reflect.DeepEqual(g.Owners, want.Owners) {
		t.Errorf("keys or owners differ from group.New's: %+v vs %+v", g, want)
	}
	for i := 1; i < len(g.Owners); i++ {
		if bytes.Compare(g.Owners[i-1][:], g.Owners[i][:]) >= 0 {
			t.Errorf("owners not sorted: %v", g.Owners)
		}
	}
	out := map[string]string{
		"kind":        dec(uint64(g.Kind)),
		"id":          hx(g.ID[:]),
		"secret":      hx(g.Secret[:]),
		"metadata":    hx(g.Keys.Metadata[:]),
		"header":      hx(g.Keys.Header[:]),
		"replication": hx(g.Keys.Replication[:]),
		"topic":       hx(g.Keys.Topic[:]),
		"fingerprint": g.Fingerprint(),
	}
	var owners []byte
	for _, o := range g.Owners {
		owners = append(owners, o[:]...)
	}
	out["owners"] = hx(owners)
	if g.IDSeed != nil {
		if keys.FromSeed(*g.IDSeed).Public() != g.ID {
			t.Errorf("IDSeed %x is not the seed of ID %v", *g.IDSeed, g.ID)
		}
		out["id_seed"] = hx(g.IDSeed[:])
	}
	return out
}

func TestKATAccount(t *testing.T) {
	vectors := []katVector{
		{Name: "seq01", In: map[string]string{"account_seed": hx(katSeq(0x01, 32)), "device_seed": hx(katSeq(0x21, 32))}},
		{Name: "seq80", In: map[string]string{"account_seed": hx(katSeq(0x80, 32)), "device_seed": hx(katSeq(0xa0, 32))}},
	}
	checkKAT(t, "account.json",
		"group.Account(FromSeed(account_seed)): kind (decimal), ID, secret, ID seed, expanded keys, owners (concatenated), fingerprint (text); the device key plays no part (MemberKeys are the account's and device's own keys)",
		vectors, func(t *testing.T, v katVector) map[string]string {
			account := keys.FromSeed(katHex32(t, v.In, "account_seed"))
			device := keys.FromSeed(katHex32(t, v.In, "device_seed"))
			g := group.Account(account)
			if g.Kind != group.KindAccount || !g.IsOwner(account.Public()) || len(g.Owners) != 1 {
				t.Errorf("account group %+v", g)
			}
			if m, d := g.MemberKeys(account, device); m != account || d != device {
				t.Error("MemberKeys of an account group are not the account's and device's own keys")
			}
			return groupOutputs(t, g)
		})
}

func TestKATContact(t *testing.T) {
	vectors := []katVector{
		{Name: "seq01-seq21", In: map[string]string{"seed_a": hx(katSeq(0x01, 32)), "seed_b": hx(katSeq(0x21, 32))}},
		{Name: "seq80-seqa0", In: map[string]string{"seed_a": hx(katSeq(0x80, 32)), "seed_b": hx(katSeq(0xa0, 32))}},
	}
	checkKAT(t, "contact.json",
		"group.Contact(FromSeed(seed_a), public key of seed_b), which must equal group.Contact(FromSeed(seed_b), public key of seed_a): kind, ID, secret, ID seed, keys, sorted owners, fingerprint",
		vectors, func(t *testing.T, v katVector) map[string]string {
			a := keys.FromSeed(katHex32(t, v.In, "seed_a"))
			b := keys.FromSeed(katHex32(t, v.In, "seed_b"))
			ga, err := group.Contact(a, b.Public())
			if err != nil {
				t.Fatal(err)
			}
			gb, err := group.Contact(b, a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ga, gb) {
				t.Errorf("Contact(a, B) = %+v\nContact(b, A) = %+v", ga, gb)
			}
			if ga.Kind != group.KindContact || !ga.IsOwner(a.Public()) || !ga.IsOwner(b.Public()) || len(ga.Owners) != 2 {
				t.Errorf("contact group %+v", ga)
			}
			return groupOutputs(t, ga)
		})
}

func TestKATCreate(t *testing.T) {
	vectors := []katVector{
		{Name: "seed01", In: map[string]string{"rand_seed": "01", "account_seed": hx(katSeq(0x01, 32)), "device_seed": hx(katSeq(0x21, 32))}},
		{Name: "seed02", In: map[string]string{"rand_seed": "02", "account_seed": hx(katSeq(0x80, 32)), "device_seed": hx(katSeq(0xa0, 32))}},
	}
	checkKAT(t, "create.json",
		"group.Create reading the SHA-256 counter stream of rand_seed (see katRand): the group, and the per-group member and device keys (MemberKeys) of FromSeed(account_seed) and FromSeed(device_seed)",
		vectors, func(t *testing.T, v katVector) map[string]string {
			g, err := group.Create(newKatRand(katHex(t, v.In, "rand_seed")))
			if err != nil {
				t.Fatal(err)
			}
			if g.Kind != group.KindMulti || len(g.Owners) != 0 {
				t.Errorf("created group %+v", g)
			}
			account := keys.FromSeed(katHex32(t, v.In, "account_seed"))
			device := keys.FromSeed(katHex32(t, v.In, "device_seed"))
			m, d := g.MemberKeys(account, device)
			if m.Public() != account.Derive(g.ID[:], seal.LabelMemberKey).Public() || d.Public() != device.Derive(g.ID[:], seal.LabelDeviceKey).Public() {
				t.Error("MemberKeys of a multi-member group are not derived with the member and device labels")
			}
			out := groupOutputs(t, g)
			mp, dp := m.Public(), d.Public()
			out["member_public"], out["device_public"] = hx(mp[:]), hx(dp[:])
			return out
		})
}

func TestCreateShortRand(t *testing.T) {
	if _, err := group.Create(bytes.NewReader(make([]byte, 63))); err == nil {
		t.Error("Create with 63 random bytes succeeded")
	}
}

// katBadContactKeys are public keys no contact group may be made with: bytes
// that are not a point, and points of small order, whose X25519 agreement is
// the zero secret.
var katBadContactKeys = []struct{ name, key string }{
	{"not a point", "0200000000000000000000000000000000000000000000000000000000000000"},
	{"identity", "0100000000000000000000000000000000000000000000000000000000000000"},
	{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"order 4", "0000000000000000000000000000000000000000000000000000000000000000"},
	{"order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"},
}

func TestContactRejects(t *testing.T) {
	own := keys.FromSeed([32]byte(katSeq(0x01, 32)))
	if _, err := group.Contact(own, own.Public()); !errors.Is(err, group.ErrSelfContact) {
		t.Errorf("contact with oneself: %v, want ErrSelfContact", err)
	}
	for _, tc := range katBadContactKeys {
		b, _ := hex.DecodeString(tc.key)
		if g, err := group.Contact(own, keys.Public(b)); err == nil {
			t.Errorf("%s: contact group %v made with %s", tc.name, g.ID, tc.key)
		}
	}
}
