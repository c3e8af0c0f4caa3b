// Package group describes Berty groups: their kinds, how each is derived or
// created, the keys expanded from the group secret, and invitations
// (docs/protocol.md §3.3–§3.4).
//
// A Group value is immutable once made and safe for concurrent use.
package group

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
)

// Kind is the kind of a group (§3.3).
type Kind uint8

// Group kinds. Their values are on the wire.
const (
	KindAccount Kind = 1 // an account's own devices
	KindContact Kind = 2 // two accounts, derived by both sides
	KindMulti   Kind = 3 // created by one member, joined by invitation
)

func (k Kind) String() string {
	switch k {
	case KindAccount:
		return "account"
	case KindContact:
		return "contact"
	case KindMulti:
		return "multi-member"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k >= KindAccount && k <= KindMulti }

// Keys are the values expanded from the group secret (§3.4). Each has one use.
type Keys struct {
	Metadata    [32]byte // seals metadata events
	Header      [32]byte // seals message headers
	Replication [32]byte // MACs entries; all a store-and-forward server holds
	Topic       [32]byte // names the group on the network instead of its ID
}

// EpochIDSize is the size of an epoch ID.
const EpochIDSize = 16

// EpochID names an epoch secret publicly: every metadata entry starts with
// the ID of the epoch whose key sealed it (§3.4, §5.1).
type EpochID [EpochIDSize]byte

// Epoch is one epoch secret of a group with what derives from it.
type Epoch struct {
	ID       EpochID
	Secret   [32]byte
	Metadata [32]byte // seals metadata events written in the epoch
	// Network proves, on the network, that a peer holds the epoch: sync
	// proofs and rendezvous values are keyed by it, and the gossip topic
	// is named by its NetworkID (§3.4, §10).
	Network [32]byte
}

// NetworkID is the public name of an epoch's network key: the ID its
// gossip topic and its sync requests go by. Only a holder of the key can
// compute it.
func NetworkID(network [32]byte) [32]byte {
	return seal.Derive32(network[:], nil, seal.LabelNetworkID)
}

// Epoch expands an epoch secret of g. Epoch 0's secret is the group secret,
// its metadata key is the group's Keys.Metadata and its network key the
// group's Keys.Replication.
func (g *Group) Epoch(secret [32]byte) Epoch {
	e := Epoch{Secret: secret}
	id := seal.Derive32(secret[:], g.ID[:], seal.LabelEpochID)
	copy(e.ID[:], id[:EpochIDSize])
	if secret == g.Secret {
		e.Metadata, e.Network = g.Keys.Metadata, g.Keys.Replication
	} else {
		e.Metadata = seal.Derive32(secret[:], g.ID[:], seal.LabelEpochMetadata)
		e.Network = seal.Derive32(secret[:], g.ID[:], seal.LabelEpochNetwork)
	}
	return e
}

// Group is what a member knows about a group.
type Group struct {
	Kind   Kind
	ID     keys.Public
	Secret [32]byte
	Keys   Keys
	// Owners are the account keys allowed to write without an invitation:
	// the account for an account group, both accounts for a contact group,
	// none for a multi-member group. Sorted.
	Owners []keys.Public
	// IDSeed is the group key's secret, held only by a multi-member group's
	// creator (to sign the genesis proof) and derivable for the other kinds.
	IDSeed *[32]byte
}

// New returns the group of the given kind with the given ID and secret, with
// its keys expanded.
func New(kind Kind, id keys.Public, secret [32]byte, owners []keys.Public) *Group {
	g := &Group{Kind: kind, ID: id, Secret: secret, Owners: sortKeys(owners)}
	g.Keys = Keys{
		Metadata:    seal.Derive32(secret[:], id[:], seal.LabelMetadataKey),
		Header:      seal.Derive32(secret[:], id[:], seal.LabelHeaderKey),
		Replication: seal.Derive32(secret[:], id[:], seal.LabelReplicationKey),
		Topic:       seal.Derive32(secret[:], id[:], seal.LabelTopic),
	}
	return g
}

func fromSeed(kind Kind, material []byte, owners []keys.Public) *Group {
	var idSeed, secret [32]byte
	copy(idSeed[:], material[:32])
	copy(secret[:], material[32:64])
	g := New(kind, keys.FromSeed(idSeed).Public(), secret, owners)
	g.IDSeed = &idSeed
	return g
}

// Account returns the account group of the account with the given key pair.
// Every device holding the account seed derives the same group.
func Account(account *keys.Pair) *Group {
	seed := account.Seed()
	return fromSeed(KindAccount, seal.Derive(seed[:], nil, seal.LabelAccountGroup, 64),
		[]keys.Public{account.Public()})
}

// ErrSelfContact is returned when deriving a contact group with oneself.
var ErrSelfContact = errors.New("cannot make a contact group with one's own account")

// Contact returns the contact group of two accounts. Both sides derive the
// same group from their own account key pair and the other's public key:
// nothing is exchanged (§3.3.2).
func Contact(own *keys.Pair, other keys.Public) (*Group, error) {
	if own.Public() == other {
		return nil, ErrSelfContact
	}
	otherX, err := other.X25519()
	if err != nil {
		return nil, fmt.Errorf("contact key: %w", err)
	}
	shared, err := own.X25519().ECDH(otherX)
	if err != nil {
		return nil, fmt.Errorf("contact key agreement: %w", err)
	}
	owners := sortKeys([]keys.Public{own.Public(), other})
	salt := append(owners[0][:], owners[1][:]...)
	return fromSeed(KindContact, seal.Derive(shared, salt, seal.LabelContactGroup, 64), owners), nil
}

// Create makes a new multi-member group with a random ID key and secret.
func Create(rand io.Reader) (*Group, error) {
	material := make([]byte, 64)
	if _, err := io.ReadFull(rand, material); err != nil {
		return nil, fmt.Errorf("create group: %w", err)
	}
	return fromSeed(KindMulti, material, nil), nil
}

// IsOwner reports whether k is one of the group's owners.
func (g *Group) IsOwner(k keys.Public) bool {
	for _, o := range g.Owners {
		if o == k {
			return true
		}
	}
	return false
}

// MemberKeys returns the member and device key pairs an account's device uses
// in g: derived per group for multi-member groups, the account's and device's
// own keys otherwise (§3.2). The member key derives from the account secret
// and the group ID: every device of the account writes for the same member.
// The device key derives from the device's own secret and the group ID:
// outsiders cannot link it to the device, and no other device — a revoked
// one included, which keeps the account secret — can compute it; siblings
// learn it from the account group (§5.4).
func (g *Group) MemberKeys(account, device *keys.Pair) (member, dev *keys.Pair) {
	return g.MemberKeysAt(account, device, 0)
}

// MemberKeysAt is MemberKeys for the account's membership number k in a
// multi-member group: 0 for the first, one more each time the account joins
// again after leaving or being removed (§3.2). A removal is final for a
// member key, so each membership needs its own, and its own device keys.
func (g *Group) MemberKeysAt(account, device *keys.Pair, k uint32) (member, dev *keys.Pair) {
	if g.Kind != KindMulti {
		return account, device
	}
	if k == 0 {
		return account.Derive(g.ID[:], seal.LabelMemberKey), device.Derive(g.ID[:], seal.LabelDeviceKey)
	}
	salt := binary.BigEndian.AppendUint32(append([]byte(nil), g.ID[:]...), k)
	return account.Derive(salt, seal.LabelRejoinMemberKey), device.Derive(salt, seal.LabelRejoinDeviceKey)
}

// Fingerprint is a short hash of the group ID for display and logs; the ID
// itself is never shown on the network.
func (g *Group) Fingerprint() string {
	h := sha256.Sum256(g.ID[:])
	return fmt.Sprintf("%x", h[:4])
}

func sortKeys(ks []keys.Public) []keys.Public {
	out := append([]keys.Public(nil), ks...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && bytes.Compare(out[j][:], out[j-1][:]) < 0; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
