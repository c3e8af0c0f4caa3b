package replica

// Who this replica meets on the network, and under which keys (§3.4,
// §10.2). The keys that let a peer in move with the epochs: a removed
// member or a revoked device, which keeps every key it held, does not learn
// the next epoch's network key, and even under a key it kept it is refused
// by name — every sync names the device at each end, signed by its key in
// the group, and a device that does not count here gets nothing.

import (
	"bytes"
	"slices"

	"github.com/berty-go/berty/core/keys"
)

// maxNetworks bounds the untainted epochs a replica listens under besides
// its current one.
const maxNetworks = 3

// Networks returns the network keys of the epochs this replica is reached
// under: its current epoch's first — where it publishes — then those of
// the other untainted epochs it holds that a counting device gave, latest
// first (at most maxNetworks: two devices may briefly write in different
// ones, and must still hear each other), then epoch 0's, where a device
// that has not learnt the current epoch yet (a new one, or one that was
// offline through a removal) meets the others. Without a current epoch,
// epoch 0's alone. Fresh slice.
func (r *Replica) Networks() [][32]byte {
	zero := r.epochs[r.zero].Network
	c := r.current()
	if c == nil || c.ID == r.zero {
		return [][32]byte{zero}
	}
	var others []*heldEpoch
	for id, h := range r.epochs {
		if id != c.ID && id != r.zero && r.vouched(h) && !r.tainted(id) {
			others = append(others, h)
		}
	}
	slices.SortFunc(others, func(a, b *heldEpoch) int {
		if a.after(b) {
			return -1
		}
		if b.after(a) {
			return 1
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	out := [][32]byte{c.Network}
	for _, h := range others[:min(len(others), maxNetworks)] {
		out = append(out, h.Network)
	}
	return append(out, zero)
}

// PeerStatus is what a replica knows of a device that asks to sync.
type PeerStatus int

// Peer statuses.
const (
	// PeerUnknown: no counting announce of the device is known here (yet).
	PeerUnknown PeerStatus = iota
	// PeerMember: the device counts, or has an approval waiting for its
	// announce (a device being linked).
	PeerMember
	// PeerCut: the device is removed, revoked or dropped.
	PeerCut
)

// Peer says whether a device may sync with this replica (§10.2): one that
// counts, or one that a sibling approved before it announced itself (a
// device being linked: it reads nothing without the epochs, which only
// counting devices are handed). A device that announced itself and waits
// for an approval is not let in: anyone holding the account secret — a
// revoked device — can make one.
func (r *Replica) Peer(device keys.Public) PeerStatus {
	if _, cut := r.state.Cutoff(device); cut {
		return PeerCut
	}
	if r.state.Device(device) != nil || r.state.Awaited(device) {
		return PeerMember
	}
	return PeerUnknown
}

// CutAt returns the Lamport clock of the earliest removal or revocation
// that cut a device (its member's removal, or its own revocation), or 0: a
// cut device is served what sorts up to it — how it learns it is out — and
// nothing after (§10.2). Only events that count are read: by a device that
// could write them, removing as an admin or as the member itself, revoking
// a device of its own member. (Anyone holding epoch 0's keys can store an
// event that names a member; such an event must not move the limit.)
func (r *Replica) CutAt(device keys.Public) uint64 {
	member, claimed := r.state.Claim(device)
	var at uint64
	for _, op := range r.state.Ops() {
		ev := op.Event
		if ev.Removed == nil && ev.Revoked == nil {
			continue
		}
		author, ok := r.state.Claim(op.Author)
		if !ok || !r.state.Writable(op.Author, op.Seq) {
			continue
		}
		var cuts bool
		switch {
		case ev.Removed != nil:
			m := r.state.Member(author)
			cuts = claimed && ev.Removed.Member == member && (author == member || (m != nil && m.Admin))
		case ev.Revoked != nil:
			cuts = ev.Revoked.Device == device && claimed && author == member
		}
		if cuts && (at == 0 || op.Lamport < at) {
			at = op.Lamport
		}
	}
	return at
}

// Newcomer reports whether this device does not count yet in its own view
// of the group: it has not read the history that lets it in. A newcomer
// cannot tell members from strangers, and has nothing of theirs to keep
// from them.
func (r *Replica) Newcomer() bool { return r.state.Device(r.device.Public()) == nil }

// ctxSync is the signature context of the statement each end of a sync
// signs with its device key in the group (§10.2).
const ctxSync = "berty/v2/sync-device"

// SignSync signs a sync statement with this device's key in the group,
// under a context of its own: the signature is good for nothing else.
func (r *Replica) SignSync(statement []byte) (device keys.Public, sig []byte) {
	return r.device.Public(), r.device.Sign(keys.SignContext(ctxSync, statement))
}

// VerifySync checks a sync statement's signature by a device.
func VerifySync(device keys.Public, statement, sig []byte) bool {
	return device.Verify(keys.SignContext(ctxSync, statement), sig)
}
