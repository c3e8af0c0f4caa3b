package node

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/state"
)

// SetName changes the account's display name (§5.8): on the account group,
// so the account's other devices follow, and in every group the account is
// in, so contacts and members — those who join later too — see it.
func (n *Node) SetName(name string) error {
	if len(name) > state.MaxProfileName || !utf8.ValidString(name) || strings.TrimSpace(name) == "" {
		return ErrBadName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	if n.revoked() {
		return ErrRevoked
	}
	acc, err := n.st.Account()
	if err != nil {
		return &StorageError{Err: err}
	}
	acc.Name = name
	if err := n.st.SetAccount(acc); err != nil {
		return &StorageError{Err: err}
	}
	n.name = name
	return n.syncProfile()
}

// syncProfile posts the account's name where this device's member shows
// another one: the account group first (its name is the account's), then
// every group. The account's devices converge on the account group's name.
func (n *Node) syncProfile() error {
	var errs []error
	for _, run := range n.groups {
		errs = append(errs, n.syncProfileIn(run))
	}
	return errors.Join(errs...)
}

// syncProfileIn posts the account's name in one group if this device counts
// there and its member shows another name. A device that has just joined
// may count only once it has synced (its invitation's record, its
// approval): Receive calls this again.
//
// It posts only if its own last profile there is not that name already: a
// sibling that cannot follow the account group (one not let in there, a
// revoked one the group does not know of yet) shows another name, and two
// devices answering each other would write for ever. The last one in fold
// order then shows; the account group's name is the account's.
func (n *Node) syncProfileIn(run *groupRun) error {
	me := n.member(run)
	if n.name == "" || me == nil || me.Name == n.name {
		return nil
	}
	// Not on the account group, which every device of the account follows
	// (and a rename back to an earlier name must go out). Elsewhere, not
	// again while this device's own last profile is the name and the name
	// on show was set by a device of the member that still counts there.
	s := run.rep.State()
	if run != n.acct {
		if last, ok := lastProfile(s, run.rep.DeviceKey()); ok && last == n.name {
			if by, ok := nameSetBy(s, me); ok && slices.Contains(me.Devices, by) {
				return nil
			}
		}
	}
	ev := &state.Event{Profile: &state.Profile{Name: n.name}}
	return n.step(run, func(lk feed.Lookup) error { return run.rep.Post(ev, lk) })
}

// lastProfile returns the name device last posted in the group's fold.
func lastProfile(s *state.State, device [32]byte) (string, bool) {
	ops := s.Ops()
	for i := len(ops) - 1; i >= 0; i-- {
		if o := ops[i]; o.Author == device && o.Event.Profile != nil {
			return o.Event.Profile.Name, true
		}
	}
	return "", false
}

// nameSetBy returns the device whose profile set m's name on show: the last
// profile, in fold order, by a device that claims m.
func nameSetBy(s *state.State, m *state.Member) ([32]byte, bool) {
	ops := s.Ops()
	for i := len(ops) - 1; i >= 0; i-- {
		o := ops[i]
		if o.Event.Profile == nil || o.Event.Profile.Name != m.Name {
			continue
		}
		if k, ok := s.Claim(o.Author); ok && k == m.Key {
			return o.Author, true
		}
	}
	return [32]byte{}, false
}

// followName takes the account's name from the account group, where another
// device of the account may have changed it.
func (n *Node) followName() {
	s := n.acct.rep.State()
	me := s.Member(n.account.Public())
	if me == nil {
		return
	}
	// The last name a current device set: not one a device set before it
	// was revoked (a stolen phone's "Mallory").
	name := me.Name
	if by, ok := nameSetBy(s, me); ok && !slices.Contains(me.Devices, by) {
		name = ""
		ops := s.Ops()
		for i := len(ops) - 1; i >= 0 && name == ""; i-- {
			if o := ops[i]; o.Event.Profile != nil && slices.Contains(me.Devices, o.Author) {
				name = o.Event.Profile.Name
			}
		}
	}
	if name == "" || name == n.name {
		return
	}
	if acc, err := n.st.Account(); err == nil {
		acc.Name = name
		if n.st.SetAccount(acc) == nil {
			n.name = name
		}
	}
}

// MemberName returns a member's display name in a group ("" if it set none).
func (n *Node) MemberName(topic [32]byte, member [32]byte) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return "", err
	}
	if m := run.rep.State().Member(member); m != nil {
		return m.Name, nil
	}
	return "", nil
}
