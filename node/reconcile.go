package node

import (
	"errors"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
)

// reconcile makes this device follow what its account group records (§5.4):
// it attaches every contact group and joined group, announces itself where
// it can, and leaves what was left. It is how a second device of an account
// ends up in all the account's conversations. A multi-member group is
// announced in once the device has synced the member's first device
// (ProofMember needs the member to be known); until then it is retried after
// each receive.
func (n *Node) reconcile() error {
	if n.revoked() {
		return nil // a revoked device joins nothing more
	}
	var errs []error
	s := n.acct.rep.State()
	for _, c := range s.Contacts() {
		if c.State != state.ContactAccepted && c.State != state.ContactSent {
			continue
		}
		g, err := n.contactGroup(c.Account)
		if err != nil {
			continue
		}
		errs = append(errs, n.ensure(g, true, func(run *groupRun, lk feed.Lookup) error { return run.rep.AnnounceOwner(lk) }))
	}
	for _, j := range s.Groups() {
		if j.Left || group.Kind(j.Kind) != group.KindMulti {
			continue
		}
		g := group.New(group.KindMulti, j.ID, j.Secret, nil)
		errs = append(errs, n.follow(g, j.Membership))
		errs = append(errs, n.ensure(g, true, func(run *groupRun, lk feed.Lookup) error {
			// The announce must sort after the member's first one: wait
			// until that one is here (an announce is in epoch 0, which the
			// group secret opens; whether it counts, this device learns
			// only from the epochs a current device hands it after).
			s := run.rep.State()
			if me := s.Member(run.rep.MemberKey()); (me != nil && me.Removed) || !s.Claimed(run.rep.MemberKey()) {
				return nil // not synced yet, or removed: nothing to announce
			}
			return run.rep.AnnounceMember(lk)
		}))
		if run := n.groups[g.Keys.Topic]; run != nil && run.rep.Joined() {
			// Once per group (it checks the account group first): a record
			// a failed commit lost is written again here.
			errs = append(errs, n.recordGroupDevice(run))
		}
	}
	n.followName()
	due := n.rotationDue()
	if due {
		err := n.recordNewKey()
		errs, due = append(errs, err), err != nil
	}
	errs = append(errs, n.propagateRevocations(), n.approveSiblings(), n.syncProfile())
	if !due {
		errs = append(errs, n.announceSuccessions())
	}
	return errors.Join(errs...)
}

// follow moves this device's replica of g to the account's membership k
// when a sibling joined the group again (§3.2), once this device has seen
// the old membership end (a removal or leave it has synced); until then
// it is retried after each receive.
func (n *Node) follow(g *group.Group, k uint32) error {
	run := n.groups[g.Keys.Topic]
	if run == nil || run.rep.Membership() >= k || k >= state.MaxGroupKeys {
		return nil
	}
	err := n.stepAll(run, func(feed.Lookup) error { return run.rep.Rejoin(k) })
	if errors.Is(err, replica.ErrNotOver) {
		return nil
	}
	return err
}

// ensure attaches g and announces this device there. With follow, the
// account is in g already through another of its devices (the account group
// says so): the device then waits for that device's approval (§5.7).
func (n *Node) ensure(g *group.Group, follow bool, announce func(*groupRun, feed.Lookup) error) error {
	run := n.groups[g.Keys.Topic]
	if run == nil {
		var err error
		if run, err = n.attach(g, nil); err != nil {
			return err
		}
	}
	if run.rep.Joined() {
		return nil
	}
	// The account is in this group through another of its devices, which
	// approves this one there (§5.7): announcing before that device's
	// announce could take its place as the account's first device in the
	// group. Wait for its approval or its announce (whether the approval
	// counts, this device may learn only from the epochs handed to it
	// after it announced); Receive calls reconcile again.
	s := run.rep.State()
	if follow && !s.Approved(run.rep.DeviceKey(), run.rep.MemberKey()) && !s.Claimed(run.rep.MemberKey()) {
		// Record the key first: the sibling approves it from that record,
		// and until then the group's devices do not know this one and do
		// not sync with it (§10.2).
		return n.recordGroupDevice(run)
	}
	err := n.step(run, func(lk feed.Lookup) error { return announce(run, lk) })
	if errors.Is(err, replica.ErrNotMember) {
		return nil
	}
	if err == nil && run.rep.Joined() {
		err = n.recordGroupDevice(run)
	}
	return err
}
