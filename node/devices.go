package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// ErrRevoked is returned by commands on a device another device of the
// account has revoked: it can no longer write, and new messages are not
// sealed to it.
var ErrRevoked = errors.New("this device was revoked by another device of the account")

// PeerSeedOf returns the network identity seed of the device with this
// device seed (what PeerSeed returns once the node is open): a new device
// being linked runs its host before it has an account.
func PeerSeedOf(deviceSeed [32]byte) [32]byte {
	return seal.Derive32(deviceSeed[:], nil, seal.LabelPeerKey)
}

// LinkGrant returns what a new device of this account receives when this
// device approves it (§11.7): the account secret and name. It is the
// account's most sensitive secret: hand it only to a handshake.Approver.
func (n *Node) LinkGrant() *handshake.Grant {
	return &handshake.Grant{AccountSeed: n.account.Seed(), Name: trimName(n.name)}
}

// DeviceInfo is one device of this account, as the account group knows it.
type DeviceInfo struct {
	Key     keys.Public
	Self    bool // this device
	Revoked bool
}

// Devices returns the account's devices: current ones first, in the order
// they announced themselves, then revoked ones.
func (n *Node) Devices() []DeviceInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.acct.rep.State().Member(n.account.Public())
	if m == nil {
		return nil
	}
	var out []DeviceInfo
	for _, d := range m.Devices {
		out = append(out, DeviceInfo{Key: d, Self: d == n.device.Public()})
	}
	for d := range m.Revoked {
		out = append(out, DeviceInfo{Key: d, Self: d == n.device.Public(), Revoked: true})
	}
	return out
}

// Revoked reports whether another device of the account revoked this one.
func (n *Node) Revoked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.revoked()
}

func (n *Node) revoked() bool {
	m := n.acct.rep.State().Member(n.account.Public())
	if m == nil {
		return false
	}
	_, ok := m.Revoked[n.device.Public()]
	return ok
}

// ApproveDevice lets a new device of this account in (§5.7): on the account
// group now — which its node is syncing — and, through every device's
// reconcile, in each of the account's groups. Device linking calls it with
// the key the new device sent over the linking handshake; a device that is
// never approved (a key a stolen device certified) never counts anywhere.
func (n *Node) ApproveDevice(device keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	if n.revoked() {
		return ErrRevoked
	}
	if err := n.step(n.acct, func(lk feed.Lookup) error { return n.acct.rep.ApproveDevice(device, lk) }); err != nil {
		return err
	}
	return n.approveSiblings()
}

// joinAccount announces a linked device in the account group once another
// device of the account has approved it there (§5.7, §11.7).
func (n *Node) joinAccount() error {
	if n.acct.rep.Joined() || !n.acct.rep.State().Approved(n.device.Public(), n.account.Public()) {
		return nil
	}
	return n.step(n.acct, func(lk feed.Lookup) error { return n.acct.rep.AnnounceOwner(lk) })
}

// Linked reports whether this device is a device of its account: always for
// an account's first device; for a linked one, once it has found its
// approval on the account group and announced itself.
func (n *Node) Linked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acct.rep.State().Device(n.device.Public()) != nil
}

// approveSiblings approves, in every group this device is in, the account's
// current devices (as the account group lists them) that are not in yet.
func (n *Node) approveSiblings() error {
	var errs []error
	for _, run := range n.groups {
		errs = append(errs, n.approveSiblingsIn(run))
	}
	return errors.Join(errs...)
}

// approveSiblingsIn is approveSiblings for one group. A device that has
// just joined counts there only once it has synced (its invitation's
// record, its own approval): Receive calls this again.
func (n *Node) approveSiblingsIn(run *groupRun) error {
	if run == n.acct {
		return nil
	}
	m := n.acct.rep.State().Member(n.account.Public())
	if m == nil || len(m.Devices) < 2 {
		return nil
	}
	me := n.member(run)
	if me == nil {
		return nil
	}
	s := run.rep.State()
	acct := n.acct.rep.State()
	var errs []error
	for _, d := range m.Devices {
		key, ok := n.groupDeviceKey(acct, run, d)
		if !ok || d == n.device.Public() || s.Device(key) != nil || s.Approved(key, run.rep.MemberKey()) {
			continue // a sibling not in the group yet: reconcile comes back when it records its key
		}
		if _, revoked := me.Revoked[key]; revoked {
			continue
		}
		errs = append(errs, n.step(run, func(lk feed.Lookup) error { return run.rep.ApproveDevice(key, lk) }))
	}
	return errors.Join(errs...)
}

// RevokeDevice revokes another device of this account (§5.6): first on the
// account group, where it also moves the account to a new key (§5.9), then
// in every group this device is in. Every remaining
// device starts new chains the revoked one cannot read; its entries written
// after the revocation are refused. Other devices of the account repeat the
// revocation in groups this one is not in (reconcile).
func (n *Node) RevokeDevice(device keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	if n.revoked() {
		return ErrRevoked
	}
	if device == n.device.Public() {
		return replica.ErrRevokeSelf
	}
	m := n.acct.rep.State().Member(n.account.Public())
	if m != nil && !slices.Contains(m.Devices, device) {
		if _, ok := m.Revoked[device]; ok {
			return nil // already revoked
		}
	}
	if m == nil || !slices.Contains(m.Devices, device) {
		return fmt.Errorf("%w: %v", replica.ErrNoSuchDevice, device)
	}
	// The revoked device holds the account key: in the same commit, move
	// the account to a new one it never sees (§5.9); reconcile does it
	// should this fail. Then cut the device off everywhere; contact groups
	// hear of the new key once it is revoked there (a record it wrote
	// before is void then).
	if err := n.step(n.acct, func(lk feed.Lookup) error {
		if err := n.acct.rep.RevokeDevice(device, lk); err != nil {
			return err
		}
		return n.postNewKey(lk)
	}); err != nil {
		return err
	}
	return errors.Join(n.approveSiblings(), n.syncProfile(), n.propagateRevocations(), n.announceSuccessions())
}

// propagateRevocations revokes, in every joined group, the devices the
// account group says are revoked and that still count there (§5.6). In a
// multi-member group a device writes with a per-group key its siblings
// know only from what it recorded on the account group (§5.4), so a
// revoked device is looked for under every key it ever recorded there —
// not only the last, which a compromised device could have replaced with
// a decoy — and so is every device of the member it let in (approved,
// directly or through another such device) that no current device of the
// account recorded: a compromised device's helpers. A key a current
// device recorded, and this device's own, are never revoked so.
func (n *Node) propagateRevocations() error {
	if n.revoked() {
		return nil
	}
	acct := n.acct.rep.State()
	m := acct.Member(n.account.Public())
	if m == nil || len(m.Revoked) == 0 {
		return nil
	}
	var errs []error
	for _, run := range n.groups {
		me := n.member(run)
		if run == n.acct || me == nil {
			continue
		}
		for _, key := range n.revokedKeys(acct, m, run, me) {
			errs = append(errs, n.step(run, func(lk feed.Lookup) error { return run.rep.RevokeDevice(key, lk) }))
		}
	}
	return errors.Join(errs...)
}

// revokedKeys returns the devices of this account's member me in run that
// belong to a device the account revoked (see propagateRevocations).
func (n *Node) revokedKeys(acct *state.State, m *state.Member, run *groupRun, me *state.Member) []keys.Public {
	// In contact groups a device writes with its own key; in multi-member
	// groups with the keys it recorded.
	keysOf := func(d keys.Public) []keys.Public {
		if run.g.Kind != group.KindMulti {
			return []keys.Public{d}
		}
		return acct.GroupDevices(d, run.g.ID)
	}
	theirs := map[keys.Public]bool{}
	for d := range m.Revoked {
		for _, k := range keysOf(d) {
			theirs[k] = true
		}
	}
	if len(theirs) == 0 {
		return nil
	}
	ours := map[keys.Public]bool{run.rep.DeviceKey(): true}
	for _, d := range m.Devices {
		for _, k := range keysOf(d) {
			ours[k] = true
		}
	}
	s := run.rep.State()
	var out []keys.Public
	// A device let in by one of theirs that no current device recorded is
	// a helper — unless the record of a current device of the account has
	// not reached this one yet: wait until every current device has a
	// record for the group (reconcile comes back after each receive).
	// Devices follow the account into every group, so this settles; a
	// current device that never records holds the search up until the user
	// revokes it too (it shows in the device list). Devices approved and
	// not yet announced do not hold it up: an approval whose device never
	// comes (a linking given up) would hold it for ever (§5.6).
	walk := true
	if run.g.Kind == group.KindMulti {
		for _, d := range m.Devices {
			if d != n.device.Public() && len(acct.GroupDevices(d, run.g.ID)) == 0 {
				walk = false
			}
		}
	}
	// The revoked device's own records wait as well: it may have recorded
	// an honest device's key as its own (nothing proves a record's author
	// holds the key), and that device's record may be the late one.
	for _, x := range me.Devices {
		if ours[x] || !walk {
			continue
		}
		if theirs[x] || s.LetInBy(x, theirs) {
			out = append(out, x)
		}
	}
	return out
}

// groupDeviceKey returns the key the account's device d writes with in the
// group: its own key in contact groups, the key it recorded on the account
// group in multi-member groups (§5.4) — siblings cannot derive it.
func (n *Node) groupDeviceKey(acct *state.State, run *groupRun, d keys.Public) (keys.Public, bool) {
	if run.g.Kind != group.KindMulti {
		return d, true
	}
	if d == n.device.Public() {
		return run.rep.DeviceKey(), true
	}
	return acct.GroupDevice(d, run.g.ID)
}

// recordGroupDevice writes on the account group this device's key in a
// multi-member group, once, so that its siblings can approve or revoke it
// there (§5.4).
func (n *Node) recordGroupDevice(run *groupRun) error {
	if run.g.Kind != group.KindMulti {
		return nil
	}
	return n.recordGroupKey(run.g.ID, run.rep.DeviceKey())
}

// recordGroupKey records key as this device's key in the multi-member
// group with this ID, unless it recorded it already (or has no room left).
func (n *Node) recordGroupKey(groupID, key keys.Public) error {
	acct := n.acct.rep.State()
	if n.revoked() || acct.Device(n.device.Public()) == nil {
		return nil // no sibling approves or revokes a device the account does not count
	}
	if ks := acct.GroupDevices(n.device.Public(), groupID); slices.Contains(ks, key) || len(ks) >= state.MaxGroupKeys {
		return nil // recorded already, or no room (Join refuses a membership past it)
	}
	ev := &state.Event{Device: &state.GroupDevice{Group: groupID, Device: key}}
	return n.step(n.acct, func(lk feed.Lookup) error { return n.acct.rep.Post(ev, lk) })
}

// member returns this account's member in a group where this device counts
// — it has joined, its member is current and it is one of the member's
// devices — or nil. Only there may it approve, revoke or post.
func (n *Node) member(run *groupRun) *state.Member {
	if n.revoked() || !run.rep.Joined() {
		return nil
	}
	me := run.rep.State().Member(run.rep.MemberKey())
	if me == nil || me.Removed || !slices.Contains(me.Devices, run.rep.DeviceKey()) {
		return nil
	}
	return me
}
