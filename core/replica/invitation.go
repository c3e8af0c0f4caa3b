package replica

import (
	"errors"
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
	// Expires is when the invitation stops admitting (unix seconds): the
	// inviter signed it, and a joiner's node refuses it after (§5.5).
	Expires uint64
}

const invitationVersion = 2

// DefaultInvitationTTL is how long an invitation admits unless said
// otherwise: a week, in seconds.
const DefaultInvitationTTL = 7 * 24 * 3600

// ErrNoSuchInvitation: no invitation that still admits has this key, or
// this member may not revoke it.
var ErrNoSuchInvitation = errors.New("no such invitation (or not one of yours): it may have expired, been revoked, or died with a removal")

// Invite makes an invitation to the group that expires DefaultInvitationTTL
// after the replica's time (Config.Now, Tick): InviteFor.
func (r *Replica) Invite(lk feed.Lookup) (*Invitation, error) {
	return r.InviteFor(DefaultInvitationTTL, lk)
}

// InviteFor makes an invitation to the group that admits for ttl seconds;
// any current member may. It records the invitation key and expiry on this
// device's feed (§5.5) — the Ready must be persisted and published like any
// other — and the joiner's announce depends on that record.
func (r *Replica) InviteFor(ttl int64, lk feed.Lookup) (*Invitation, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("invitation lifetime of %d s: it must be positive", ttl)
	}
	return r.InviteUntil(uint64(max(r.now, 0)+ttl), lk)
}

// InviteUntil is InviteFor with the expiry in unix seconds, from the
// caller's clock.
func (r *Replica) InviteUntil(expires uint64, lk feed.Lookup) (*Invitation, error) {
	me := r.state.Member(r.member.Public())
	self := r.device.Public()
	if me == nil || me.Removed || r.state.Device(self) == nil {
		return nil, ErrNotMember
	}
	if r.g.Kind != group.KindMulti {
		return nil, fmt.Errorf("only multi-member groups take invitations, not %s groups", r.g.Kind)
	}
	if expires > state.MaxExpires {
		return nil, fmt.Errorf("invitation expiry %d is past year 9999", expires)
	}
	ik, err := keys.Generate(r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	if _, err := r.postMetadata(&state.Event{Invited: &state.InvitationCreated{InviteKey: ik.Public(), Expires: expires}}, 0, nil); err != nil {
		return nil, err
	}
	if err := r.maintain(lk); err != nil {
		return nil, err
	}
	h := r.tracker.Head(self)
	inv := &Invitation{
		GroupID: r.g.ID, Secret: r.g.Secret, Name: r.state.Name(), Inviter: me.Key, InviteSeed: ik.Seed(),
		InviterDevice: self, InviterSeq: h.Seq, InviterLamport: h.Lamport, Expires: expires,
	}
	copy(inv.InviterSig[:], r.member.Sign(state.InvitationSigned(r.g.ID, ik.Public(), expires)))
	return inv, nil
}

// InviteKey returns the invitation's public key, which names it in the
// group (RevokeInvitation).
func (inv *Invitation) InviteKey() keys.Public { return keys.FromSeed(inv.InviteSeed).Public() }

// RevokeInvitation ends an invitation before its expiry (§5.5): a device of
// its inviter, or of an admin, may. A join that sorts after the revocation
// does not count.
func (r *Replica) RevokeInvitation(inviteKey keys.Public, lk feed.Lookup) error {
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed || r.state.Device(r.device.Public()) == nil {
		return ErrNotMember
	}
	for _, in := range r.state.Invites() {
		if in.Key == inviteKey && (in.Inviter == me.Key || me.Admin) {
			if _, err := r.postMetadata(r.uninvite(inviteKey, true), 0, nil); err != nil {
				return err
			}
			return r.maintain(lk)
		}
	}
	return ErrNoSuchInvitation
}

// uninvite returns the revocation of an invitation, listing the members
// this replica saw join with it (§5.5).
func (r *Replica) uninvite(inviteKey keys.Public, drop bool) *state.Event {
	var admitted []keys.Public
	for _, m := range r.state.Members() {
		if m.InviteKey == inviteKey {
			admitted = append(admitted, m.Key)
		}
	}
	return &state.Event{Uninvited: &state.InvitationRevoked{InviteKey: inviteKey, Drop: drop, Admitted: state.SortRoster(admitted)}}
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
	a := &state.Announce{Proof: state.ProofInvitation, Inviter: inv.Inviter, InviteKey: ik.Public(), InviterSig: inv.InviterSig, Expires: inv.Expires}
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
	b = wire.AppendUvarint(b, inv.InviterLamport)
	return wire.AppendUvarint(b, inv.Expires)
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
	inv.Expires = r.Uvarint(state.MaxExpires)
	if r.Err() == nil && !utf8.ValidString(inv.Name) {
		r.Fail("group name is not UTF-8")
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode invitation: %w", err)
	}
	ik := keys.FromSeed(inv.InviteSeed)
	if !inv.Inviter.Verify(state.InvitationSigned(inv.GroupID, ik.Public(), inv.Expires), inv.InviterSig[:]) {
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
