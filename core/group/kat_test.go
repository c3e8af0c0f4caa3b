package group_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package group. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

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
		"kind":        kat.Dec(uint64(g.Kind)),
		"id":          kat.H(g.ID[:]),
		"secret":      kat.H(g.Secret[:]),
		"metadata":    kat.H(g.Keys.Metadata[:]),
		"header":      kat.H(g.Keys.Header[:]),
		"replication": kat.H(g.Keys.Replication[:]),
		"topic":       kat.H(g.Keys.Topic[:]),
		"fingerprint": g.Fingerprint(),
	}
	var owners []byte
	for _, o := range g.Owners {
		owners = append(owners, o[:]...)
	}
	out["owners"] = kat.H(owners)
	if g.IDSeed != nil {
		if keys.FromSeed(*g.IDSeed).Public() != g.ID {
			t.Errorf("IDSeed %x is not the seed of ID %v", *g.IDSeed, g.ID)
		}
		out["id_seed"] = kat.H(g.IDSeed[:])
	}
	return out
}

func TestKATAccount(t *testing.T) {
	vectors := []kat.Vector{
		{Name: "seq01", In: map[string]string{"account_seed": kat.H(kat.Seq(0x01, 32)), "device_seed": kat.H(kat.Seq(0x21, 32))}},
		{Name: "seq80", In: map[string]string{"account_seed": kat.H(kat.Seq(0x80, 32)), "device_seed": kat.H(kat.Seq(0xa0, 32))}},
	}
	kat.Check(t, "account.json",
		"group.Account(FromSeed(account_seed)): kind (decimal), ID, secret, ID seed, expanded keys, owners (concatenated), fingerprint (text); the device key plays no part (MemberKeys are the account's and device's own keys)",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			account := keys.FromSeed(kat.Hex32(t, v.In, "account_seed"))
			device := keys.FromSeed(kat.Hex32(t, v.In, "device_seed"))
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
	vectors := []kat.Vector{
		{Name: "seq01-seq21", In: map[string]string{"seed_a": kat.H(kat.Seq(0x01, 32)), "seed_b": kat.H(kat.Seq(0x21, 32))}},
		{Name: "seq80-seqa0", In: map[string]string{"seed_a": kat.H(kat.Seq(0x80, 32)), "seed_b": kat.H(kat.Seq(0xa0, 32))}},
	}
	kat.Check(t, "contact.json",
		"group.Contact(FromSeed(seed_a), public key of seed_b), which must equal group.Contact(FromSeed(seed_b), public key of seed_a): kind, ID, secret, ID seed, keys, sorted owners, fingerprint",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			a := keys.FromSeed(kat.Hex32(t, v.In, "seed_a"))
			b := keys.FromSeed(kat.Hex32(t, v.In, "seed_b"))
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
	vectors := []kat.Vector{
		{Name: "seed01", In: map[string]string{"rand_seed": "01", "account_seed": kat.H(kat.Seq(0x01, 32)), "device_seed": kat.H(kat.Seq(0x21, 32))}},
		{Name: "seed02", In: map[string]string{"rand_seed": "02", "account_seed": kat.H(kat.Seq(0x80, 32)), "device_seed": kat.H(kat.Seq(0xa0, 32))}},
	}
	kat.Check(t, "create.json",
		"group.Create reading the SHA-256 counter stream of rand_seed (see katRand): the group, and the per-group member and device keys (MemberKeys) of FromSeed(account_seed) and FromSeed(device_seed): member = HKDF(account seed, group ID, member label), device = HKDF(device seed, group ID, device label); member_public_K and device_public_K are MemberKeysAt membership K (salt group ID || K as 4 bytes big-endian, the rejoin labels)",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			g, err := group.Create(kat.NewRand(kat.Hex(t, v.In, "rand_seed")))
			if err != nil {
				t.Fatal(err)
			}
			if g.Kind != group.KindMulti || len(g.Owners) != 0 {
				t.Errorf("created group %+v", g)
			}
			account := keys.FromSeed(kat.Hex32(t, v.In, "account_seed"))
			device := keys.FromSeed(kat.Hex32(t, v.In, "device_seed"))
			m, d := g.MemberKeys(account, device)
			if m.Public() != account.Derive(g.ID[:], seal.LabelMemberKey).Public() ||
				d.Public() != device.Derive(g.ID[:], seal.LabelDeviceKey).Public() {
				t.Error("MemberKeys of a multi-member group are not the member key from the account secret and the device key from the device's own")
			}
			// A sibling (or a revoked device) holds the account secret, not
			// this device's: it cannot compute the per-group device key.
			dp := device.Public()
			if account.Derive(append(g.ID[:], dp[:]...), seal.LabelDeviceKey).Public() == d.Public() ||
				account.Derive(g.ID[:], seal.LabelDeviceKey).Public() == d.Public() {
				t.Error("the per-group device key derives from the account secret")
			}
			out := groupOutputs(t, g)
			mp, gdp := m.Public(), d.Public()
			out["member_public"], out["device_public"] = kat.H(mp[:]), kat.H(gdp[:])
			// Later memberships (rejoining, §3.2): salt = group ID ||
			// membership as 4 bytes big-endian, the rejoin labels.
			seen := map[keys.Public]bool{mp: true, gdp: true}
			for _, k := range []uint32{1, 2} {
				m, d := g.MemberKeysAt(account, device, k)
				salt := binary.BigEndian.AppendUint32(append([]byte(nil), g.ID[:]...), k)
				if m.Public() != account.Derive(salt, seal.LabelRejoinMemberKey).Public() || d.Public() != device.Derive(salt, seal.LabelRejoinDeviceKey).Public() {
					t.Errorf("MemberKeysAt(%d) is not the rejoin derivation", k)
				}
				if seen[m.Public()] || seen[d.Public()] {
					t.Errorf("membership %d reuses a key of an earlier one", k)
				}
				seen[m.Public()], seen[d.Public()] = true, true
				mp, dp := m.Public(), d.Public()
				out[fmt.Sprintf("member_public_%d", k)], out[fmt.Sprintf("device_public_%d", k)] = kat.H(mp[:]), kat.H(dp[:])
			}
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
	own := keys.FromSeed([32]byte(kat.Seq(0x01, 32)))
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

// TestKATEpoch pins the expansion of epoch secrets (§3.4): the ID is the
// first 16 bytes of HKDF(secret, group ID, "berty/v2/epoch/id"), the
// metadata key HKDF(secret, group ID, "berty/v2/epoch/metadata-key"), the
// network key HKDF(secret, group ID, "berty/v2/epoch/network-key") — and for
// epoch 0, whose secret is the group secret, the group's metadata and
// replication keys. The network ID is HKDF(network key, —, "berty/v2/network-id").
func TestKATEpoch(t *testing.T) {
	vectors := []kat.Vector{
		{Name: "epoch", In: map[string]string{"group_id": kat.H(kat.Seq(0x10, 32)), "group_secret": kat.H(kat.Seq(0x30, 32)), "secret": kat.H(kat.Seq(0x50, 32))}},
		{Name: "epoch0", In: map[string]string{"group_id": kat.H(kat.Seq(0x10, 32)), "group_secret": kat.H(kat.Seq(0x30, 32)), "secret": kat.H(kat.Seq(0x30, 32))}},
	}
	kat.Check(t, "epoch.json", "group.Epoch(secret) of group.New(multi, group_id, group_secret)", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			g := group.New(group.KindMulti, kat.Hex32(t, v.In, "group_id"), kat.Hex32(t, v.In, "group_secret"), nil)
			secret := kat.Hex32(t, v.In, "secret")
			e := g.Epoch(secret)
			id := seal.Derive32(secret[:], g.ID[:], seal.LabelEpochID)
			if !bytes.Equal(e.ID[:], id[:group.EpochIDSize]) {
				t.Error("epoch ID is not the first 16 bytes of its HKDF")
			}
			if secret == g.Secret && (e.Metadata != g.Keys.Metadata || e.Network != g.Keys.Replication) {
				t.Error("epoch 0's metadata key is not the group's, or its network key not the replication key")
			}
			nid := group.NetworkID(e.Network)
			return map[string]string{"id": kat.H(e.ID[:]), "metadata_key": kat.H(e.Metadata[:]),
				"network_key": kat.H(e.Network[:]), "network_id": kat.H(nid[:])}
		})
}
