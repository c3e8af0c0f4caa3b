package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package state. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

// Fixed keys of the vectors: a multi-member group whose ID key is katGroupKey,
// a member and its device, an inviter and an invitation key.
var (
	katGroupKey  = keys.FromSeed([32]byte(kat.Seq(0x40, 32)))
	katGroup     = group.New(group.KindMulti, katGroupKey.Public(), [32]byte(kat.Seq(0x50, 32)), nil)
	katMember    = keys.FromSeed([32]byte(kat.Seq(0x01, 32)))
	katDevice    = keys.FromSeed([32]byte(kat.Seq(0x21, 32)))
	katInviter   = keys.FromSeed([32]byte(kat.Seq(0x61, 32)))
	katInviteKey = keys.FromSeed([32]byte(kat.Seq(0x81, 32)))
	// katHybrid is a hybrid key-agreement key (§3.5) for key updates.
	katHybrid = func() *seal.HybridPrivate {
		k, err := seal.ParseHybridPrivate(kat.Seq(0x90, seal.HybridPrivateSize))
		if err != nil {
			panic(err)
		}
		return k
	}()
)

func pub(k *keys.Pair) string {
	p := k.Public()
	return kat.H(p[:])
}

func eventVectors() []kat.Vector {
	cert := keys.NewCert(katGroup.ID, katMember, katDevice, katDevice.LegacyAgreement().PublicKey())
	certHex := kat.H(cert.Append(nil))
	genesisSig := katGroupKey.Sign(state.GenesisSigned(katGroup.ID, katMember.Public()))
	inviterSig := katInviter.Sign(state.InvitationSigned(katGroup.ID, katInviteKey.Public(), 1796688000))
	joinSig := katInviteKey.Sign(state.JoinSigned(katGroup.ID, katMember.Public()))
	v := func(name string, in map[string]string) kat.Vector { return kat.Vector{Name: name, In: in} }
	return []kat.Vector{
		v("announce-owner", map[string]string{"type": "1", "cert": certHex, "proof": "0"}),
		v("announce-genesis", map[string]string{"type": "1", "cert": certHex, "proof": "1", "genesis_sig": kat.H(genesisSig)}),
		v("announce-invitation", map[string]string{
			"type": "1", "cert": certHex, "proof": "2", "inviter": pub(katInviter), "invite_key": pub(katInviteKey),
			"inviter_sig": kat.H(inviterSig), "join_sig": kat.H(joinSig), "expires": "1796688000",
		}),
		v("announce-member", map[string]string{"type": "1", "cert": certHex, "proof": "3"}),
		v("chain-keys", map[string]string{
			"type": "2", "epoch": "7",
			"box0_recipient": pub(katDevice), "box0_sealed": kat.H(kat.Seq(0x00, 108)),
			"box1_recipient": pub(katInviter), "box1_sealed": kat.H(kat.Seq(0x80, 108)),
			"box1_epoch0": kat.H(kat.Seq(0x20, 16)), "box1_epoch1": kat.H(kat.Seq(0x40, 16)),
		}),
		v("chain-keys-none", map[string]string{"type": "2", "epoch": "4294967295"}),
		v("hybrid-keys", map[string]string{
			"type": "23", "epoch": "3",
			"box0_recipient": pub(katDevice), "box0_key": "2", "box0_sealed": kat.H(kat.Seq(0x00, 1196)),
			"box1_recipient": pub(katInviter), "box1_key": "300", "box1_sealed": kat.H(kat.Seq(0x80, 1196)),
			"box1_epoch0": kat.H(kat.Seq(0x20, 16)),
		}),
		v("member-removed", map[string]string{
			"type": "3", "member": pub(katMember),
			"cutoff0_device": pub(katDevice), "cutoff0_seq": "5",
			"cutoff1_device": pub(katInviteKey), "cutoff1_seq": kat.Dec(1 << 48),
			"keep0": kat.H(kat.Seq(0x10, 32)), "keep1": kat.H(kat.Seq(0x30, 32)),
		}),
		v("member-left", map[string]string{"type": "3", "member": pub(katMember)}),
		v("admin-granted", map[string]string{"type": "4", "member": pub(katInviter)}),
		v("group-info", map[string]string{"type": "5", "name": kat.H([]byte("Berty friends ✓"))}),
		v("group-info-empty", map[string]string{"type": "5", "name": ""}),
		v("group-joined", map[string]string{
			"type": "6", "kind": "3", "id": kat.H(katGroup.ID[:]), "secret": kat.H(katGroup.Secret[:]), "name": kat.H(bytes.Repeat([]byte("n"), state.MaxName)),
			"membership": "0",
		}),
		v("group-rejoined", map[string]string{
			"type": "18", "kind": "3", "id": kat.H(katGroup.ID[:]), "secret": kat.H(katGroup.Secret[:]), "name": kat.H([]byte("climbing")), "membership": "4294967295",
		}),
		v("group-joined-contact", map[string]string{"type": "6", "kind": "2", "id": kat.H(kat.Seq(0x70, 32)), "secret": kat.H(kat.Seq(0x90, 32)), "name": "", "membership": "0"}),
		v("group-left", map[string]string{"type": "7", "id": kat.H(katGroup.ID[:])}),
		v("contact", map[string]string{"type": "8", "account": pub(katInviter), "state": "3", "name": kat.H([]byte("Alice")), "seed": kat.H(make([]byte, 32))}),
		v("contact-blocked", map[string]string{"type": "8", "account": pub(katMember), "state": "5", "name": "", "seed": kat.H(make([]byte, 32)), "own_seed": kat.H(kat.Seq(0x21, 32))}),
		v("contact-outgoing", map[string]string{"type": "8", "account": pub(katMember), "state": "1", "name": kat.H([]byte("Bob")), "seed": kat.H(kat.Seq(0x33, 32)), "own_seed": kat.H(kat.Seq(0x21, 32))}),
		v("contact-none", map[string]string{"type": "8", "account": pub(katMember), "state": "7", "name": "", "seed": kat.H(make([]byte, 32)), "own_seed": kat.H(kat.Seq(0x21, 32))}),
		v("invitation-created", map[string]string{"type": "9", "invite_key": pub(katInviteKey), "expires": "1796688000"}),
		v("invitation-revoked", map[string]string{"type": "15", "invite_key": pub(katInviteKey), "keep0": kat.H(kat.Seq(0x10, 32))}),
		v("group-device", map[string]string{"type": "14", "group": kat.H(katGroup.ID[:]), "device": pub(katDevice)}),
		v("rendezvous-seed", map[string]string{"type": "10", "seed": kat.H(kat.Seq(0x55, 32))}),
		v("device-revoked", map[string]string{"type": "11", "device": pub(katDevice), "seq": "300"}),
		v("device-revoked-multi", map[string]string{"type": "11", "device": pub(katDevice), "seq": "2", "keep0": pub(katMember)}),
		v("device-approved", map[string]string{"type": "12", "device": pub(katDevice)}),
		v("profile", map[string]string{"type": "13", "name": kat.H([]byte("Zoë 🌻"))}),
		v("join-policy-approve", map[string]string{"type": "16", "approve": "1", "keep0": pub(katMember), "keep1": pub(katInviter)}),
		v("join-policy-open", map[string]string{"type": "16", "approve": "0"}),
		v("join-admitted", map[string]string{"type": "17", "member": pub(katMember), "admit": "1"}),
		v("join-declined", map[string]string{"type": "17", "member": pub(katMember), "admit": "0"}),
		v("account-key", map[string]string{"type": "19", "old_seed": kat.H(kat.Seq(0x01, 32)), "new_seed": kat.H(kat.Seq(0xa1, 32))}),
		v("key-succeeded", map[string]string{"type": "20", "old_seed": kat.H(kat.Seq(0x01, 32)), "new_seed": kat.H(kat.Seq(0xa1, 32))}),
		v("contact-verified", map[string]string{"type": "21", "account": pub(katInviter), "theirs": pub(katInviteKey), "own": pub(katMember)}),
		v("key-update", map[string]string{"type": "22", "key": kat.H(katHybrid.Public().Bytes())}),
		v("key-update-lost", func() map[string]string {
			lost := state.SortRoster([]keys.Public{katInviter.Public(), katMember.Public()})
			return map[string]string{"type": "22", "key": kat.H(katHybrid.Public().Bytes()), "keep0": kat.H(lost[0][:]), "keep1": kat.H(lost[1][:])}
		}()),
	}
}

// katRoster reads keep0, keep1, ... (sorted in the vectors).
func katRoster(t testing.TB, in map[string]string) []keys.Public {
	var out []keys.Public
	for i := 0; in[fmt.Sprintf("keep%d", i)] != ""; i++ {
		out = append(out, kat.Hex32(t, in, fmt.Sprintf("keep%d", i)))
	}
	return out
}

// buildEvent makes the event a vector describes.
func buildEvent(t testing.TB, in map[string]string) *state.Event {
	t.Helper()
	sig := func(key string) (s [64]byte) {
		if b := kat.Hex(t, in, key); len(b) != 64 {
			t.Fatalf("input %q is %d bytes, want 64", key, len(b))
		} else {
			copy(s[:], b)
		}
		return s
	}
	switch state.EventType(kat.Uint(t, in, "type")) {
	case state.TypeDeviceAnnounce:
		a := &state.Announce{Cert: keys.ReadCert(wire.NewReader(kat.Hex(t, in, "cert"))), Proof: state.ProofKind(kat.Uint(t, in, "proof"))}
		switch a.Proof {
		case state.ProofGenesis:
			a.GenesisSig = sig("genesis_sig")
		case state.ProofInvitation:
			a.Inviter, a.InviteKey = kat.Hex32(t, in, "inviter"), kat.Hex32(t, in, "invite_key")
			a.InviterSig, a.JoinSig = sig("inviter_sig"), sig("join_sig")
			a.Expires = kat.Uint(t, in, "expires")
		}
		return &state.Event{Announce: a}
	case state.TypeChainKeys, state.TypeHybridKeys:
		k := &state.ChainKeys{Epoch: uint32(kat.Uint(t, in, "epoch")), Hybrid: in["type"] == "23"}
		for i := 0; in[fmt.Sprintf("box%d_recipient", i)] != ""; i++ {
			b := state.Box{
				Recipient: kat.Hex32(t, in, fmt.Sprintf("box%d_recipient", i)),
				Sealed:    kat.Hex(t, in, fmt.Sprintf("box%d_sealed", i)),
			}
			if k.Hybrid {
				b.Key = kat.Uint(t, in, fmt.Sprintf("box%d_key", i))
			}
			for j := 0; in[fmt.Sprintf("box%d_epoch%d", i, j)] != ""; j++ {
				var id group.EpochID
				copy(id[:], kat.Hex(t, in, fmt.Sprintf("box%d_epoch%d", i, j)))
				b.Epochs = append(b.Epochs, id)
			}
			k.Boxes = append(k.Boxes, b)
		}
		return &state.Event{Keys: k}
	case state.TypeMemberRemoved:
		m := &state.MemberRemoved{Member: kat.Hex32(t, in, "member")}
		for i := 0; in[fmt.Sprintf("cutoff%d_device", i)] != ""; i++ {
			m.Cutoffs = append(m.Cutoffs, state.Cutoff{
				Device: kat.Hex32(t, in, fmt.Sprintf("cutoff%d_device", i)),
				Seq:    kat.Uint(t, in, fmt.Sprintf("cutoff%d_seq", i)),
			})
		}
		m.Keep = katRoster(t, in)
		return &state.Event{Removed: m}
	case state.TypeAdminGranted:
		return &state.Event{Admin: &state.AdminGranted{Member: kat.Hex32(t, in, "member")}}
	case state.TypeGroupInfo:
		return &state.Event{Info: &state.GroupInfo{Name: string(kat.Hex(t, in, "name"))}}
	case state.TypeGroupJoined, state.TypeGroupRejoined:
		return &state.Event{Joined: &state.GroupJoined{
			Kind: uint8(kat.Uint(t, in, "kind")), ID: kat.Hex32(t, in, "id"), Secret: kat.Hex32(t, in, "secret"), Name: string(kat.Hex(t, in, "name")),
			Membership: uint32(kat.Uint(t, in, "membership")),
		}}
	case state.TypeGroupLeft:
		return &state.Event{Left: &state.GroupLeft{ID: kat.Hex32(t, in, "id")}}
	case state.TypeContact:
		ev := &state.Event{Contact: &state.Contact{
			Account: kat.Hex32(t, in, "account"), State: state.ContactState(kat.Uint(t, in, "state")), Name: string(kat.Hex(t, in, "name")),
			Seed: kat.Hex32(t, in, "seed"), OwnSeed: optionalKey(t, in, "own_seed"),
		}}
		if c := ev.Contact; c.OwnSeed != ([32]byte{}) {
			c.Own = keys.FromSeed(c.OwnSeed).Public()
		}
		return ev
	case state.TypeInvitation:
		return &state.Event{Invited: &state.InvitationCreated{InviteKey: kat.Hex32(t, in, "invite_key"), Expires: kat.Uint(t, in, "expires")}}
	case state.TypeUninvited:
		return &state.Event{Uninvited: &state.InvitationRevoked{InviteKey: kat.Hex32(t, in, "invite_key"), Admitted: katRoster(t, in)}}
	case state.TypeGroupDevice:
		return &state.Event{Device: &state.GroupDevice{Group: kat.Hex32(t, in, "group"), Device: kat.Hex32(t, in, "device")}}
	case state.TypeRendezvousSeed:
		return &state.Event{Seed: &state.RendezvousSeed{Seed: kat.Hex32(t, in, "seed")}}
	case state.TypeProfile:
		return &state.Event{Profile: &state.Profile{Name: string(kat.Hex(t, in, "name"))}}
	case state.TypeDeviceApproved:
		return &state.Event{Approved: &state.DeviceApproved{Device: kat.Hex32(t, in, "device")}}
	case state.TypeJoinPolicy:
		return &state.Event{Policy: &state.JoinPolicy{Approve: kat.Uint(t, in, "approve") == 1, Keep: katRoster(t, in)}}
	case state.TypeJoinDecision:
		return &state.Event{Decision: &state.JoinDecision{Member: kat.Hex32(t, in, "member"), Admit: kat.Uint(t, in, "admit") == 1}}
	case state.TypeKeyUpdate:
		u := &state.KeyUpdate{Lost: katRoster(t, in)}
		copy(u.Key[:], kat.Hex(t, in, "key"))
		return &state.Event{Update: u}
	case state.TypeVerified:
		return &state.Event{Verified: &state.ContactVerified{Account: kat.Hex32(t, in, "account"), Theirs: kat.Hex32(t, in, "theirs"), Own: kat.Hex32(t, in, "own")}}
	case state.TypeAccountKey, state.TypeKeySucceeded:
		next := kat.Hex32(t, in, "new_seed")
		ev := &state.Event{Succeeded: &state.Succeeded{Record: keys.NewSuccession(keys.FromSeed(kat.Hex32(t, in, "old_seed")), keys.FromSeed(next))}}
		if in["type"] == "19" {
			ev.Succeeded.Seed = &next
		}
		return ev
	case state.TypeDeviceRevoked:
		return &state.Event{Revoked: &state.DeviceRevoked{Device: kat.Hex32(t, in, "device"), Seq: kat.Uint(t, in, "seq"), Keep: katRoster(t, in)}}
	}
	t.Fatalf("unknown event type %s", in["type"])
	return nil
}

func TestKATEvents(t *testing.T) {
	kat.Check(t, "events.json",
		"state.Event.Encode of one event per type (and per proof kind) from its fields; type, proof, epoch, kind, state and seqs are decimal, names are UTF-8 bytes in hex; Decode must give the event back",
		eventVectors(), func(t *testing.T, v kat.Vector) map[string]string {
			ev := buildEvent(t, v.In)
			if got := ev.Type(); uint64(got) != kat.Uint(t, v.In, "type") {
				t.Errorf("Type() = %d, want %s", got, v.In["type"])
			}
			enc := ev.Encode()
			d, err := state.Decode(enc)
			if err != nil || !reflect.DeepEqual(d, ev) {
				t.Errorf("Decode(Encode(x)) = %+v, %v; want %+v", d, err, ev)
			}
			return map[string]string{"encoded": kat.H(enc)}
		})
}

// TestAnnounceVectorsVerify checks that the announce vectors carry real
// proofs: CheckAnnounce accepts them for the device in the vectors' group.
func TestAnnounceVectorsVerify(t *testing.T) {
	owner := group.New(group.KindContact, katGroup.ID, katGroup.Secret, []keys.Public{katMember.Public(), katInviter.Public()})
	for _, v := range eventVectors() {
		ev := buildEvent(t, v.In)
		if ev.Announce == nil {
			continue
		}
		g := katGroup
		if ev.Announce.Proof == state.ProofOwner {
			g = owner
		}
		if !state.CheckAnnounce(g, katDevice.Public(), ev.Announce) {
			t.Errorf("%s: CheckAnnounce refuses the vector's announce", v.Name)
		}
		if state.CheckAnnounce(g, katInviter.Public(), ev.Announce) {
			t.Errorf("%s: CheckAnnounce accepts the announce for another device", v.Name)
		}
	}
}

// decodeRejects are encodings Decode must refuse.
func decodeRejects(t testing.TB) map[string][]byte {
	key := bytes.Repeat([]byte{0x11}, 32)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := map[string][]byte{
		"empty":                        {},
		"type 0":                       {0},
		"type 14":                      cat([]byte{14}, key),
		"profile name too long":        cat([]byte{13}, wire.AppendString(nil, string(bytes.Repeat([]byte("n"), state.MaxProfileName+1)))),
		"profile name not UTF-8":       cat([]byte{13}, wire.AppendString(nil, "a\xc0")),
		"revoked seq above limit":      cat([]byte{11}, key, wire.AppendUvarint(nil, 1<<48+1)),
		"unknown proof":                cat([]byte{1}, make([]byte, keys.CertSize), []byte{4}),
		"epoch above uint32":           {2, 0x80, 0x80, 0x80, 0x80, 0x10, 0},
		"non-minimal epoch":            {2, 0x81, 0x00, 0},
		"too many recipients":          {2, 1, 0x81, 0x08},
		"box too large":                cat([]byte{2, 1, 1}, key, []byte{109}, make([]byte, 109)),
		"too many cutoffs":             cat([]byte{3}, key, []byte{0x81, 0x02}),
		"cutoff seq above limit":       cat([]byte{3}, key, []byte{1}, key, wire.AppendUvarint(nil, 1<<48+1)),
		"name too long":                cat([]byte{5}, wire.AppendString(nil, string(bytes.Repeat([]byte("n"), state.MaxName+1)))),
		"joined account group":         cat([]byte{6, 1}, key, key, []byte{0}),
		"joined kind 4":                cat([]byte{6, 4}, key, key, []byte{0}),
		"rejoined 2^32":                cat([]byte{18, 3}, key, key, []byte{0}, wire.AppendUvarint(nil, 1<<32)),
		"rejoined membership 0":        cat([]byte{18, 3}, key, key, []byte{0, 0}),
		"rejoined contact":             cat([]byte{18, 2}, key, key, []byte{0, 1}),
		"contact state 0":              cat([]byte{8}, key, []byte{0, 0}, key),
		"contact state 8":              cat([]byte{8}, key, []byte{8, 0}, key),
		"group name not UTF-8":         cat([]byte{5}, wire.AppendString(nil, "caf\xe9")),
		"joined name not UTF-8":        cat([]byte{6, 3}, key, key, wire.AppendString(nil, "\xff")),
		"contact name not UTF-8":       cat([]byte{8}, key, []byte{3}, wire.AppendString(nil, "b\xc0b"), key),
		"join policy flag 2":           {16, 2, 0},
		"roster with approval off":     cat([]byte{16, 0, 1}, key),
		"join decision flag 2":         cat([]byte{17}, key, []byte{2}),
		"revocation drop flag 2":       cat([]byte{15}, key, []byte{2, 0}),
		"type 22":                      {22},
		"contact with a short own key": cat([]byte{8}, key, []byte{3, 0}, key, key[:31]),
		"contact with a zero own seed": cat([]byte{8}, key, []byte{3, 0}, key, make([]byte, 32)),
	}
	rec := keys.NewSuccession(keys.FromSeed([32]byte{1}), keys.FromSeed([32]byte{2}))
	succ := rec.Append(nil)
	other := [32]byte{3}
	cases["account key with another's seed"] = cat([]byte{19}, succ, other[:])
	forged := bytes.Clone(succ)
	forged[150] ^= 1
	cases["succession with a bad signature"] = cat([]byte{20}, forged)
	for _, v := range eventVectors() {
		enc := buildEvent(t, v.In).Encode()
		cases[v.Name+" + trailing byte"] = append(bytes.Clone(enc), 0)
		for n := range len(enc) {
			if _, own := v.In["own_seed"]; own && n == len(enc)-32 {
				continue // a contact without its optional own key: valid
			}
			cases[fmt.Sprintf("%s truncated to %d", v.Name, n)] = enc[:n]
		}
	}
	return cases
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range decodeRejects(t) {
		if ev, err := state.Decode(b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: Decode(%x) = %+v, %v; want an error wrapping ErrMalformed", name, b, ev, err)
		}
	}
}

// optionalKey is the 32 bytes of in[name], or zero when absent.
func optionalKey(t testing.TB, in map[string]string, name string) [32]byte {
	if _, ok := in[name]; !ok {
		return [32]byte{}
	}
	return kat.Hex32(t, in, name)
}
