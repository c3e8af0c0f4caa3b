package replica

import (
	"fmt"
	"unicode/utf8"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// Invitation lets its holder join a multi-member group (§5.2). It carries the
// group secret: it is shared like a password (a link or QR code, later).
type Invitation struct {
	GroupID    keys.Public
	Secret     [32]byte
	Name       string
	Inviter    keys.Public // inviting member key
	InviteSeed [32]byte    // secret of the one invitation key
	InviterSig [64]byte    // inviter's signature over the invitation key
	// The inviter's feed head when inviting: the joiner's announce depends on
	// it, so every replica applies the inviter's membership first.
	InviterDevice  keys.Public
	InviterSeq     uint64
	InviterLamport uint64
}

const invitationVersion = 1

// Invite makes an invitation to the group; any current member may. It
// records the invitation key on this device's feed (§5.5) — the Ready must be
// persisted and published like any other — and the joiner's announce depends
// on that record.
func (r *Replica) Invite(lk feed.Lookup) (*Invitation, error) {
	me := r.state.Member(r.member.Public())
	self := r.device.Public()
	if me == nil || me.Removed || r.state.Device(self) == nil {
		return nil, ErrNotMember
	}
	if r.g.Kind != group.KindMulti {
		return nil, fmt.Errorf("only multi-member groups take invitations, not %s groups", r.g.Kind)
	}
	ik, err := keys.Generate(r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	if _, err := r.postMetadata(&state.Event{Invited: &state.InvitationCreated{InviteKey: ik.Public()}}, 0, nil); err != nil {
		return nil, err
	}
	if err := r.maintain(lk); err != nil {
		return nil, err
	}
	h := r.tracker.Head(self)
	inv := &Invitation{
		GroupID: r.g.ID, Secret: r.g.Secret, Name: r.state.Name(), Inviter: me.Key, InviteSeed: ik.Seed(),
		InviterDevice: self, InviterSeq: h.Seq, InviterLamport: h.Lamport,
	}
	copy(inv.InviterSig[:], r.member.Sign(state.InvitationSigned(r.g.ID, ik.Public())))
	return inv, nil
}

// Group returns the group the invitation is for.
func (inv *Invitation) Group() *group.Group {
	return group.New(group.KindMulti, inv.GroupID, inv.Secret, nil)
}

// AnnounceInvited writes this device's announce with the invitation's proof.
func (r *Replica) AnnounceInvited(inv *Invitation, lk feed.Lookup) error {
	if inv.GroupID != r.g.ID {
		return fmt.Errorf("invitation for another group")
	}
	ik := keys.FromSeed(inv.InviteSeed)
	a := &state.Announce{Proof: state.ProofInvitation, Inviter: inv.Inviter, InviteKey: ik.Public(), InviterSig: inv.InviterSig}
	copy(a.JoinSig[:], ik.Sign(state.JoinSigned(r.g.ID, r.member.Public())))
	var deps []feed.Dep
	if inv.InviterSeq > 0 && inv.InviterDevice != r.device.Public() {
		deps = []feed.Dep{{Device: inv.InviterDevice, Seq: inv.InviterSeq}}
	}
	return r.announce(a, inv.InviterLamport+1, deps, lk)
}

// Encode returns the invitation's canonical encoding (§5.5).
func (inv *Invitation) Encode() []byte {
	b := []byte{invitationVersion}
	b = append(b, inv.GroupID[:]...)
	b = append(b, inv.Secret[:]...)
	b = wire.AppendString(b, inv.Name)
	b = append(b, inv.Inviter[:]...)
	b = append(b, inv.InviteSeed[:]...)
	b = append(b, inv.InviterSig[:]...)
	b = append(b, inv.InviterDevice[:]...)
	b = wire.AppendUvarint(b, inv.InviterSeq)
	return wire.AppendUvarint(b, inv.InviterLamport)
}

// DecodeInvitation parses an invitation strictly and checks the inviter's
// signature, so a tampered invitation is refused before anything is written.
func DecodeInvitation(b []byte) (*Invitation, error) {
	r := wire.NewReader(b)
	if v := r.Byte(); v != invitationVersion && r.Err() == nil {
		r.Fail("invitation version %d, want %d", v, invitationVersion)
	}
	inv := &Invitation{GroupID: r.Fixed32(), Secret: r.Fixed32(), Name: r.String(state.MaxName), Inviter: r.Fixed32(), InviteSeed: r.Fixed32()}
	copy(inv.InviterSig[:], r.Fixed(64))
	inv.InviterDevice = r.Fixed32()
	inv.InviterSeq = r.Uvarint(feed.MaxSeq)
	inv.InviterLamport = r.Uvarint(feed.MaxLamport)
	if r.Err() == nil && !utf8.ValidString(inv.Name) {
		r.Fail("group name is not UTF-8")
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode invitation: %w", err)
	}
	ik := keys.FromSeed(inv.InviteSeed)
	if !inv.Inviter.Verify(state.InvitationSigned(inv.GroupID, ik.Public()), inv.InviterSig[:]) {
		return nil, fmt.Errorf("invitation: %w", keys.ErrBadSignature)
	}
	return inv, nil
}

// AnnounceMember writes the announce of another device of a member already in
// the group (device linking, §5.2): the certificate signed by the member key
// is the proof. It counts once the member's first announce is known, so the
// device should sync the group first.
func (r *Replica) AnnounceMember(lk feed.Lookup) error {
	return r.announce(&state.Announce{Proof: state.ProofMember}, 0, nil, lk)
}
