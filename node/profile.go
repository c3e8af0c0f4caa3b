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
// On the account group, which every device of the account follows, it
// posts whenever its member shows another name (a rename back to an
// earlier name must go out). Elsewhere it does not post again while its
// own last profile is the name and the name on show was set by a device of
// the member that still counts there: a sibling that cannot follow the
// account group (one not let in there) shows another name, and two devices
// answering each other would write for ever.
func (n *Node) syncProfileIn(run *groupRun) error {
	me := n.member(run)
	if n.name == "" || me == nil || me.Name == n.name {
		return nil
	}
	s := run.rep.State()
	if run != n.acct {
		mine := lastProfile(s, func(o *state.Op) bool { return o.Author == run.rep.DeviceKey() })
		if mine != nil && mine.Event.Profile.Name == n.name {
			if set := nameSetBy(s, me); set != nil && slices.Contains(me.Devices, set.Author) {
				return nil
			}
		}
	}
	ev := &state.Event{Profile: &state.Profile{Name: n.name}}
	return n.step(run, func(lk feed.Lookup) error { return run.rep.Post(ev, lk) })
}

// lastProfile returns the last profile op, in fold order, that keep keeps,
// or nil.
func lastProfile(s *state.State, keep func(*state.Op) bool) *state.Op {
	ops := s.Ops()
	for i := len(ops) - 1; i >= 0; i-- {
		if o := ops[i]; o.Event.Profile != nil && keep(o) {
			return o
		}
	}
	return nil
}

// nameSetBy returns the profile op that set m's name on show: the last one,
// in fold order, with that name by a device that claims m.
func nameSetBy(s *state.State, m *state.Member) *state.Op {
	return lastProfile(s, func(o *state.Op) bool {
		k, ok := s.Claim(o.Author)
		return o.Event.Profile.Name == m.Name && ok && k == m.Key
	})
}

// followName takes the account's name from the account group, where another
// device of the account may have changed it.
func (n *Node) followName() {
	s := n.acct.rep.State()
	me := s.Member(n.account.Public())
	if me == nil || me.Name == "" || (me.Name == n.name && len(me.Revoked) == 0) {
		return // nothing to follow (with a device revoked, the name on show may be its)
	}
	// The last name a current device set: not one a device set before it
	// was revoked (a stolen phone's "Mallory").
	name := me.Name
	if set := nameSetBy(s, me); set != nil && !slices.Contains(me.Devices, set.Author) {
		name = ""
		if o := lastProfile(s, func(o *state.Op) bool { return slices.Contains(me.Devices, o.Author) }); o != nil {
			name = o.Event.Profile.Name
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
