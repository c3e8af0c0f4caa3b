// Package state holds Berty's group metadata: the events members write to a
// group (docs/protocol.md §5) and the deterministic reducer that folds them
// into the group's state — members, devices, admins, removals, group info and,
// on the account group, joined groups and contacts.
//
// # Determinism
//
// The reducer sorts membership events by (Lamport clock, entry ID) — an order
// that extends causal order — and applies each with the checks of §5.3 against
// the state built so far. The state is therefore a function of the set of
// entries, whatever order they arrived in. When an event arrives that sorts
// before the last one applied, the state is rebuilt from the sorted events;
// there are few of them (one per device, removal or setting), never one per
// message.
package state

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/wire"
)

// EventType identifies a metadata event. Values are on the wire.
type EventType uint8

// Event types (§5.1).
const (
	TypeDeviceAnnounce EventType = 1
	TypeChainKeys      EventType = 2
	TypeMemberRemoved  EventType = 3
	TypeAdminGranted   EventType = 4
	TypeGroupInfo      EventType = 5
	TypeGroupJoined    EventType = 6
	TypeGroupLeft      EventType = 7
	TypeContact        EventType = 8
	TypeInvitation     EventType = 9
	TypeRendezvousSeed EventType = 10
	TypeDeviceRevoked  EventType = 11
	TypeDeviceApproved EventType = 12
	TypeProfile        EventType = 13
	TypeGroupDevice    EventType = 14
	TypeUninvited      EventType = 15
	TypeJoinPolicy     EventType = 16
	TypeJoinDecision   EventType = 17
	TypeGroupRejoined  EventType = 18
	TypeAccountKey     EventType = 19
	TypeKeySucceeded   EventType = 20
	TypeVerified       EventType = 21
	TypeKeyUpdate      EventType = 22
	TypeHybridKeys     EventType = 23
)

// Limits on metadata events.
const (
	MaxName = 256
	// MaxProfileName bounds a member's display name, in bytes.
	MaxProfileName = 64
	MaxRecipients  = 1024
	MaxCutoffs     = 256
	// MaxExpires bounds an invitation's expiry (unix seconds): year 10 000.
	MaxExpires = 253402300800
	// MaxGroupKeys bounds the keys one device records for itself in one
	// group (one per membership, §3.2); later records are ignored.
	MaxGroupKeys = 16
	// MaxRoster bounds the members a removal or a revocation lists as kept
	// (§5.3): with MaxCutoffs cut-offs the event still fits an entry.
	MaxRoster = 1536
	// MaxEpochBundle bounds the epoch secrets one box carries: a new
	// device gets every epoch of the group's history in one box (§6.3).
	MaxEpochBundle = 1024
	// MaxBoxSize bounds a sealed box: ML-KEM ciphertext, ephemeral key,
	// nonce and tag (1 160),
	// a flag, a chain key and counter (36), the epoch count and secrets.
	MaxBoxSize = seal.HybridOverhead + 1 + 36 + 2 + 32*MaxEpochBundle
)

// ProofKind says why a device may write in a group.
type ProofKind uint8

// Proof kinds.
const (
	ProofOwner      ProofKind = 0 // the member key is one of the group's owners
	ProofGenesis    ProofKind = 1 // signed by the group key: the creator
	ProofInvitation ProofKind = 2 // an invitation from a current member
	ProofMember     ProofKind = 3 // another device of a current member
)

// Event is a decoded metadata event: exactly one field is set.
type Event struct {
	Announce  *Announce
	Keys      *ChainKeys
	Removed   *MemberRemoved
	Admin     *AdminGranted
	Info      *GroupInfo
	Joined    *GroupJoined
	Left      *GroupLeft
	Contact   *Contact
	Invited   *InvitationCreated
	Seed      *RendezvousSeed
	Revoked   *DeviceRevoked
	Approved  *DeviceApproved
	Profile   *Profile
	Device    *GroupDevice
	Uninvited *InvitationRevoked
	Policy    *JoinPolicy
	Decision  *JoinDecision
	Succeeded *Succeeded
	Verified  *ContactVerified
	Update    *KeyUpdate
}

// ContactVerified records on the account group that the user compared
// the safety number of a contact (§11.8) while the contact's key was
// Theirs and the account's Own: the number of those two keys. Either key
// moving on (§5.9) shows the contact as changed since. A zero Theirs clears
// the record. The last one per contact wins.
type ContactVerified struct {
	Account keys.Public
	Theirs  keys.Public
	Own     keys.Public
}

// Succeeded moves the author's member to a new key (§5.9). On the account
// group (type 19) it carries the new account seed, sealed in the author's
// current epoch so that only the account's current devices read it; in a
// contact group (type 20) only the signed record, which tells the contact
// that the account moved. It counts only as an event of a device that
// counts, and not at all once that device is revoked: the holder of the old
// key — a stolen device — can sign a competing record too.
type Succeeded struct {
	Record keys.Succession
	// Seed is the new account seed (type 19 only).
	Seed *[32]byte
}

// JoinPolicy is an admin's setting for joins through a link (§5.5): with
// Approve set, a new member's join waits until an admin admits it. The
// last one in fold order wins. Turning approval on ends every link made
// before (a new era) and carries the author's roster, as a removal does
// (§5.3): a join through an older link that its author did not see is
// dropped, or it could sort before the setting and skip it.
type JoinPolicy struct {
	Approve bool
	Keep    []keys.Public // with Approve only
}

// JoinDecision is an admin's answer to a join that waits (§5.5): Admit
// lets the member in, otherwise it is declined, for good.
type JoinDecision struct {
	Member keys.Public
	Admit  bool
}

// InvitationRevoked ends an invitation (§5.5): by a device of its inviter,
// or of an admin. A join with it that sorts
// after it does not count; one that sorts before counts only if Admitted
// lists it (the members the author saw join with it, sorted): a fresh
// joiner's announce names only the invitation's record, so it would
// otherwise sort before a revocation it never saw.
type InvitationRevoked struct {
	InviteKey keys.Public
	// Drop: the joins Admitted leaves out are dropped — if the author is the
	// device that recorded the link or an admin's, and the link's era still
	// runs.
	Drop     bool
	Admitted []keys.Public
}

// GroupDevice records on the account group the key the author — a device
// of the account — writes with in a multi-member group (§3.2, §5.4). A
// per-group device key derives from the device's own secret, which its
// siblings do not hold: this record is how they learn it, to approve the
// device there (§5.7) or revoke it (§5.6). It is sealed in an epoch of the
// account group, so neither the network nor a revoked device reads it.
type GroupDevice struct {
	Group  keys.Public
	Device keys.Public
}

// Profile is the author's member's display name in this group (§5.8): in
// metadata, so members who join later see it too. The last one in fold
// order wins.
type Profile struct {
	Name string
}

// DeviceApproved lets one more device of the author's member into the group
// (§5.7): a member's first device needs no approval, every later one needs
// a current device of the same member to approve it, before or after its
// announce. A revoked device cannot approve (its entries past the cut-off
// do not count), so a device it certifies after its revocation never gets
// in.
type DeviceApproved struct {
	Device keys.Public
}

// DeviceRevoked revokes one device of the author's own member (§5.6): its
// entries past Seq stop counting, it is no longer a device of the member,
// and every remaining device starts a new chain it cannot read. Only
// another current device of the same member may revoke. In a multi-member
// group Keep lists the members the author counted, as for a removal.
type DeviceRevoked struct {
	Device keys.Public
	Seq    uint64
	Keep   []keys.Public
}

// RendezvousSeed records on the account group the seed of the account's
// contact link (§11.1): every device of the account announces the points
// derived from it and answers the requests that arrive there. A new seed
// (a reset) replaces the old one, and links carrying the old one stop
// working.
type RendezvousSeed struct {
	Seed [32]byte
}

// InvitationCreated records on the inviter's feed that it issued an
// invitation with this key. A join counts only if the fold has applied this
// record from a current member first (§5.2, §5.5): an invitation made (or
// backdated) by a removed member is past its cut-off and never counts.
type InvitationCreated struct {
	InviteKey keys.Public
	Expires   uint64 // unix seconds, as the inviter signed it
}

// Announce is the first entry of every feed: the device certificate and the
// proof that its member may write in the group (§5.2).
type Announce struct {
	Cert  keys.Cert
	Proof ProofKind
	// ProofGenesis: the group key's signature over the member key.
	GenesisSig [64]byte
	// ProofInvitation: the inviter's member key, the invitation's public key,
	// the inviter's signature over it, and the joiner's signature with the
	// invitation key over its member key.
	Inviter    keys.Public
	InviteKey  keys.Public
	InviterSig [64]byte
	JoinSig    [64]byte
	Expires    uint64 // the invitation's expiry, which InviterSig covers
}

// Box is a chain key and epoch secrets sealed to one recipient device's
// X25519 key. Epochs names, in clear, the epochs whose secrets the box
// holds, in order: every replica then knows which devices hold which epoch
// (§6.3), which is how an epoch a removed device holds is found.
type Box struct {
	Recipient keys.Public
	// Key names, in hybrid boxes, the recipient's key the box is sealed
	// to: the seq of the recipient's key update that published it (§6.4).
	Key    uint64
	Epochs []group.EpochID
	Sealed []byte
}

// KeyUpdate replaces the author device's key-agreement key in the group
// (§6.4): boxes are sealed to the latest one, and the device deletes the
// private halves of those before it once no box to them can still come.
// Lost lists, in ascending order, the devices whose box the author could not
// open because it had deleted the key: each hands its chain again.
type KeyUpdate struct {
	// Key is a hybrid public key (§3.5): X25519 || ML-KEM-768.
	Key  [seal.HybridPublicSize]byte
	Lost []keys.Public
}

// ChainKeys hands the author's new or current chain to recipient devices.
//
// Hybrid boxes (type 23) are sealed to key updates' hybrid keys and name
// them; the X25519 boxes of type 2, sealed to a certificate's key, are
// what devices wrote before key updates: read, no longer written.
type ChainKeys struct {
	Epoch  uint32
	Boxes  []Box
	Hybrid bool
}

// MemberRemoved removes a member (by an admin, or the member itself: leaving).
// Cutoffs give, for each of the member's devices the author knew, the last
// seq that stays valid; the member's entries past it are refused (§5.3).
// Keep is the roster: the other members the author counted when it wrote
// the removal, sorted. A member the fold counts there but Keep leaves out
// joined concurrently with the removal, unseen by its author, and is
// dropped (§5.3): a join cannot slip in before a removal it did not see.
type MemberRemoved struct {
	Member  keys.Public
	Cutoffs []Cutoff
	Keep    []keys.Public
}

// Cutoff is the last valid seq of a removed member's device.
type Cutoff struct {
	Device keys.Public
	Seq    uint64
}

// AdminGranted makes a member an admin.
type AdminGranted struct{ Member keys.Public }

// GroupInfo sets the group's display information.
type GroupInfo struct{ Name string }

// GroupJoined records on the account group that the account is in a group,
// with what any of its devices needs to take part in it.
type GroupJoined struct {
	Kind   uint8
	ID     keys.Public
	Secret [32]byte
	Name   string
	// Membership numbers the account's memberships of a multi-member
	// group: 0 for the first, one more each time it joins again after
	// leaving or being removed. Its member and device keys derive from it
	// (§3.2); the account's devices follow the latest.
	Membership uint32
}

// GroupLeft records on the account group that the account left a group.
type GroupLeft struct{ ID keys.Public }

// ContactState is where a contact stands (§5.4, §11.6).
type ContactState uint8

// Contact states.
const (
	// ContactOutgoing: a request this account wants to send (pending: not
	// yet received by the other side).
	ContactOutgoing ContactState = 1
	// ContactIncoming: a request received, waiting for the user.
	ContactIncoming ContactState = 2
	// ContactAccepted: a contact; both sides are in the contact group.
	ContactAccepted ContactState = 3
	// ContactDiscarded: an incoming request the user declined.
	ContactDiscarded ContactState = 4
	// ContactBlocked: requests from this account are refused.
	ContactBlocked ContactState = 5
	// ContactSent: an outgoing request the other side has received; it
	// becomes accepted when the other side joins the contact group.
	ContactSent ContactState = 6
	// ContactNone: no relation (a cancelled request, an unblocked account).
	ContactNone ContactState = 7
)

func (s ContactState) String() string {
	switch s {
	case ContactOutgoing:
		return "outgoing"
	case ContactIncoming:
		return "incoming"
	case ContactAccepted:
		return "accepted"
	case ContactDiscarded:
		return "discarded"
	case ContactBlocked:
		return "blocked"
	case ContactSent:
		return "sent"
	case ContactNone:
		return "none"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Contact records on the account group a contact and its state.
type Contact struct {
	Account keys.Public
	State   ContactState
	Name    string
	// Seed is the rendezvous seed of the other account's contact link, kept
	// for an outgoing request so that any device of the account can send
	// it; zero otherwise.
	Seed [32]byte
	// OwnSeed is the seed of the account key this account uses with the
	// contact: their contact group derives from it (§3.3.2), and it stays
	// the same when the account moves to a new key (§5.9). Zero stands for
	// the account's first key, and is encoded by leaving the field out
	// (records written before successions existed read so). The record
	// carries the seed, not only the key, so that every device of the
	// account can write in that group even if the succession that made the
	// key stops counting (a review found a contact stranded so). Own is its
	// public key (zero with it), not encoded.
	OwnSeed [32]byte
	Own     keys.Public
}

// Type returns the event's type.
func (e *Event) Type() EventType {
	switch {
	case e.Announce != nil:
		return TypeDeviceAnnounce
	case e.Keys != nil && e.Keys.Hybrid:
		return TypeHybridKeys
	case e.Keys != nil:
		return TypeChainKeys
	case e.Removed != nil:
		return TypeMemberRemoved
	case e.Admin != nil:
		return TypeAdminGranted
	case e.Info != nil:
		return TypeGroupInfo
	case e.Joined != nil && e.Joined.Membership > 0:
		return TypeGroupRejoined
	case e.Joined != nil:
		return TypeGroupJoined
	case e.Left != nil:
		return TypeGroupLeft
	case e.Contact != nil:
		return TypeContact
	case e.Invited != nil:
		return TypeInvitation
	case e.Seed != nil:
		return TypeRendezvousSeed
	case e.Revoked != nil:
		return TypeDeviceRevoked
	case e.Approved != nil:
		return TypeDeviceApproved
	case e.Profile != nil:
		return TypeProfile
	case e.Device != nil:
		return TypeGroupDevice
	case e.Uninvited != nil:
		return TypeUninvited
	case e.Policy != nil:
		return TypeJoinPolicy
	case e.Decision != nil:
		return TypeJoinDecision
	case e.Verified != nil:
		return TypeVerified
	case e.Update != nil:
		return TypeKeyUpdate
	case e.Succeeded != nil && e.Succeeded.Seed != nil:
		return TypeAccountKey
	case e.Succeeded != nil:
		return TypeKeySucceeded
	}
	return 0
}

// Encode returns the canonical encoding of e (§5.1).
func (e *Event) Encode() []byte {
	b := []byte{byte(e.Type())}
	switch {
	case e.Announce != nil:
		a := e.Announce
		b = a.Cert.Append(b)
		b = append(b, byte(a.Proof))
		switch a.Proof {
		case ProofGenesis:
			b = append(b, a.GenesisSig[:]...)
		case ProofInvitation:
			b = append(b, a.Inviter[:]...)
			b = append(b, a.InviteKey[:]...)
			b = append(b, a.InviterSig[:]...)
			b = append(b, a.JoinSig[:]...)
			b = wire.AppendUvarint(b, a.Expires)
		}
	case e.Keys != nil:
		b = wire.AppendUvarint(b, uint64(e.Keys.Epoch))
		b = wire.AppendUvarint(b, uint64(len(e.Keys.Boxes)))
		for _, x := range e.Keys.Boxes {
			b = append(b, x.Recipient[:]...)
			if e.Keys.Hybrid {
				b = wire.AppendUvarint(b, x.Key)
			}
			b = wire.AppendUvarint(b, uint64(len(x.Epochs)))
			for _, id := range x.Epochs {
				b = append(b, id[:]...)
			}
			b = wire.AppendBytes(b, x.Sealed)
		}
	case e.Removed != nil:
		b = append(b, e.Removed.Member[:]...)
		b = wire.AppendUvarint(b, uint64(len(e.Removed.Cutoffs)))
		for _, c := range e.Removed.Cutoffs {
			b = append(b, c.Device[:]...)
			b = wire.AppendUvarint(b, c.Seq)
		}
		b = appendRoster(b, e.Removed.Keep)
	case e.Admin != nil:
		b = append(b, e.Admin.Member[:]...)
	case e.Info != nil:
		b = wire.AppendString(b, e.Info.Name)
	case e.Joined != nil:
		b = append(b, e.Joined.Kind)
		b = append(b, e.Joined.ID[:]...)
		b = append(b, e.Joined.Secret[:]...)
		b = wire.AppendString(b, e.Joined.Name)
		if e.Joined.Membership > 0 {
			b = wire.AppendUvarint(b, uint64(e.Joined.Membership))
		}
	case e.Left != nil:
		b = append(b, e.Left.ID[:]...)
	case e.Contact != nil:
		b = append(b, e.Contact.Account[:]...)
		b = append(b, byte(e.Contact.State))
		b = wire.AppendString(b, e.Contact.Name)
		b = append(b, e.Contact.Seed[:]...)
		if e.Contact.OwnSeed != ([32]byte{}) {
			b = append(b, e.Contact.OwnSeed[:]...)
		}
	case e.Invited != nil:
		b = append(b, e.Invited.InviteKey[:]...)
		b = wire.AppendUvarint(b, e.Invited.Expires)
	case e.Seed != nil:
		b = append(b, e.Seed.Seed[:]...)
	case e.Revoked != nil:
		b = append(b, e.Revoked.Device[:]...)
		b = wire.AppendUvarint(b, e.Revoked.Seq)
		b = appendRoster(b, e.Revoked.Keep)
	case e.Approved != nil:
		b = append(b, e.Approved.Device[:]...)
	case e.Profile != nil:
		b = wire.AppendString(b, e.Profile.Name)
	case e.Device != nil:
		b = append(b, e.Device.Group[:]...)
		b = append(b, e.Device.Device[:]...)
	case e.Uninvited != nil:
		b = append(b, e.Uninvited.InviteKey[:]...)
		b = appendFlag(b, e.Uninvited.Drop)
		b = appendRoster(b, e.Uninvited.Admitted)
	case e.Policy != nil:
		b = appendFlag(b, e.Policy.Approve)
		b = appendRoster(b, e.Policy.Keep)
	case e.Decision != nil:
		b = append(b, e.Decision.Member[:]...)
		b = appendFlag(b, e.Decision.Admit)
	case e.Verified != nil:
		b = append(b, e.Verified.Account[:]...)
		b = append(b, e.Verified.Theirs[:]...)
		b = append(b, e.Verified.Own[:]...)
	case e.Succeeded != nil:
		b = e.Succeeded.Record.Append(b)
		if e.Succeeded.Seed != nil {
			b = append(b, e.Succeeded.Seed[:]...)
		}
	case e.Update != nil:
		b = append(b, e.Update.Key[:]...)
		b = appendRoster(b, e.Update.Lost)
	}
	return b
}

func appendFlag(b []byte, f bool) []byte {
	if f {
		return append(b, 1)
	}
	return append(b, 0)
}

// readFlag reads a u8 that must be 0 or 1: one value, one encoding.
func readFlag(r *wire.Reader, what string) bool {
	switch f := r.Byte(); {
	case f == 1:
		return true
	case f != 0 && r.Err() == nil:
		r.Fail("%s flag %d", what, f)
	}
	return false
}

// appendRoster encodes a roster: uvarint n, then n member keys in strictly
// ascending order.
func appendRoster(b []byte, keep []keys.Public) []byte {
	b = wire.AppendUvarint(b, uint64(len(keep)))
	for _, k := range keep {
		b = append(b, k[:]...)
	}
	return b
}

// readRoster decodes a roster, refusing one out of order or with a repeat:
// one set, one encoding.
func readRoster(r *wire.Reader) []keys.Public {
	n := r.Uvarint(MaxRoster)
	var out []keys.Public
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		k := r.Fixed32()
		if len(out) > 0 && bytes.Compare(out[len(out)-1][:], k[:]) >= 0 && r.Err() == nil {
			r.Fail("roster not in strictly ascending order")
		}
		out = append(out, k)
	}
	return out
}

// SortRoster sorts member keys and removes repeats, as a roster is encoded.
func SortRoster(ks []keys.Public) []keys.Public {
	out := slices.Clone(ks)
	slices.SortFunc(out, func(a, b keys.Public) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// Decode parses an event strictly. Byte slices in the result are copies.
func Decode(b []byte) (*Event, error) {
	b = append([]byte(nil), b...)
	r := wire.NewReader(b)
	e := &Event{}
	switch t := EventType(r.Byte()); t {
	case TypeDeviceAnnounce:
		a := &Announce{Cert: keys.ReadCert(r), Proof: ProofKind(r.Byte())}
		switch a.Proof {
		case ProofOwner, ProofMember:
		case ProofGenesis:
			copy(a.GenesisSig[:], r.Fixed(64))
		case ProofInvitation:
			a.Inviter = r.Fixed32()
			a.InviteKey = r.Fixed32()
			copy(a.InviterSig[:], r.Fixed(64))
			copy(a.JoinSig[:], r.Fixed(64))
			a.Expires = r.Uvarint(MaxExpires)
		default:
			r.Fail("unknown proof kind %d", a.Proof)
		}
		e.Announce = a
	case TypeChainKeys, TypeHybridKeys:
		k := &ChainKeys{Epoch: uint32(r.Uvarint(1<<32 - 1)), Hybrid: t == TypeHybridKeys}
		n := r.Uvarint(MaxRecipients)
		for i := uint64(0); i < n && r.Err() == nil; i++ {
			x := Box{Recipient: r.Fixed32()}
			if k.Hybrid {
				x.Key = r.Uvarint(1<<48 - 1)
			}
			m := r.Uvarint(MaxEpochBundle)
			for j := uint64(0); j < m && r.Err() == nil; j++ {
				var id group.EpochID
				copy(id[:], r.Fixed(group.EpochIDSize))
				x.Epochs = append(x.Epochs, id)
			}
			x.Sealed = r.Bytes(MaxBoxSize)
			k.Boxes = append(k.Boxes, x)
		}
		e.Keys = k
	case TypeMemberRemoved:
		m := &MemberRemoved{Member: r.Fixed32()}
		n := r.Uvarint(MaxCutoffs)
		for i := uint64(0); i < n && r.Err() == nil; i++ {
			m.Cutoffs = append(m.Cutoffs, Cutoff{Device: r.Fixed32(), Seq: r.Uvarint(1 << 48)})
		}
		m.Keep = readRoster(r)
		e.Removed = m
	case TypeAdminGranted:
		e.Admin = &AdminGranted{Member: r.Fixed32()}
	case TypeGroupInfo:
		e.Info = &GroupInfo{Name: r.String(MaxName)}
		if r.Err() == nil && !utf8.ValidString(e.Info.Name) {
			r.Fail("group name is not UTF-8")
		}
	case TypeGroupJoined, TypeGroupRejoined:
		j := &GroupJoined{Kind: r.Byte(), ID: r.Fixed32(), Secret: r.Fixed32(), Name: r.String(MaxName)}
		if t == TypeGroupRejoined {
			// A later membership (§3.2): only of a multi-member group.
			j.Membership = uint32(r.Uvarint(1<<32 - 1))
			if r.Err() == nil && (j.Kind != 3 || j.Membership == 0) {
				r.Fail("membership %d of a group of kind %d", j.Membership, j.Kind)
			}
		}
		if r.Err() == nil && (j.Kind < 2 || j.Kind > 3) {
			r.Fail("joined group of kind %d", j.Kind)
		}
		if r.Err() == nil && !utf8.ValidString(j.Name) {
			r.Fail("joined group's name is not UTF-8")
		}
		e.Joined = j
	case TypeGroupLeft:
		e.Left = &GroupLeft{ID: r.Fixed32()}
	case TypeContact:
		c := &Contact{Account: r.Fixed32(), State: ContactState(r.Byte()), Name: r.String(MaxName), Seed: r.Fixed32()}
		if r.Err() == nil && r.Offset() < len(b) {
			// Only when not the first key: one value, one encoding.
			if c.OwnSeed = r.Fixed32(); r.Err() == nil && c.OwnSeed == ([32]byte{}) {
				r.Fail("a contact's own key seed written as zeros")
			}
			c.Own = keys.FromSeed(c.OwnSeed).Public()
		}
		if r.Err() == nil && (c.State < ContactOutgoing || c.State > ContactNone) {
			r.Fail("unknown contact state %d", c.State)
		}
		if r.Err() == nil && !utf8.ValidString(c.Name) {
			r.Fail("contact name is not UTF-8")
		}
		e.Contact = c
	case TypeInvitation:
		e.Invited = &InvitationCreated{InviteKey: r.Fixed32(), Expires: r.Uvarint(MaxExpires)}
	case TypeRendezvousSeed:
		e.Seed = &RendezvousSeed{Seed: r.Fixed32()}
	case TypeDeviceRevoked:
		e.Revoked = &DeviceRevoked{Device: r.Fixed32(), Seq: r.Uvarint(1 << 48)}
		e.Revoked.Keep = readRoster(r)
	case TypeDeviceApproved:
		e.Approved = &DeviceApproved{Device: r.Fixed32()}
	case TypeProfile:
		e.Profile = &Profile{Name: r.String(MaxProfileName)}
		if r.Err() == nil && !utf8.ValidString(e.Profile.Name) {
			r.Fail("profile name is not UTF-8")
		}
	case TypeUninvited:
		e.Uninvited = &InvitationRevoked{InviteKey: r.Fixed32()}
		e.Uninvited.Drop = readFlag(r, "revocation drop")
		e.Uninvited.Admitted = readRoster(r)
	case TypeJoinPolicy:
		e.Policy = &JoinPolicy{Approve: readFlag(r, "join policy")}
		e.Policy.Keep = readRoster(r)
		if r.Err() == nil && !e.Policy.Approve && len(e.Policy.Keep) > 0 {
			r.Fail("a roster with approval off")
		}
	case TypeJoinDecision:
		e.Decision = &JoinDecision{Member: r.Fixed32()}
		e.Decision.Admit = readFlag(r, "join decision")
	case TypeGroupDevice:
		e.Device = &GroupDevice{Group: r.Fixed32(), Device: r.Fixed32()}
	case TypeVerified:
		e.Verified = &ContactVerified{Account: r.Fixed32(), Theirs: r.Fixed32(), Own: r.Fixed32()}
	case TypeAccountKey, TypeKeySucceeded:
		e.Succeeded = &Succeeded{Record: keys.ReadSuccession(r)}
		if t == TypeAccountKey {
			seed := r.Fixed32()
			e.Succeeded.Seed = &seed
			if r.Err() == nil && keys.FromSeed(seed).Public() != e.Succeeded.Record.New {
				r.Fail("account key succession: the seed is not the new key's")
			}
		}
	case TypeKeyUpdate:
		u := &KeyUpdate{}
		copy(u.Key[:], r.Fixed(seal.HybridPublicSize))
		if r.Err() == nil {
			if err := keys.CheckX25519([32]byte(u.Key[:32])); err != nil {
				r.Fail("key update: %v", err)
			} else if _, err := seal.ParseHybridPublic(u.Key[:]); err != nil {
				r.Fail("key update: %v", err)
			}
		}
		u.Lost = readRoster(r)
		if len(u.Lost) > MaxRecipients {
			r.Fail("key update: %d lost boxes, at most %d", len(u.Lost), MaxRecipients)
		}
		e.Update = u
	default:
		r.Fail("unknown event type %d", t)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode metadata event: %w", err)
	}
	return e, nil
}
