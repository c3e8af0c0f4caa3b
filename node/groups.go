package node

import (
	"errors"
	"fmt"
	"sort"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/state"
)

// Group errors callers branch on.
var (
	ErrNotMulti = errors.New("only a multi-member group can be left: block the contact instead")
	// ErrBadGroupName: a group's name is text a person can read.
	ErrBadGroupName = fmt.Errorf("a group name is 1 to %d bytes of text (UTF-8, not only spaces)", state.MaxName)
	// ErrBadName: likewise for the account's display name.
	ErrBadName = fmt.Errorf("a name is 1 to %d bytes of text (UTF-8, not only spaces)", state.MaxProfileName)
)

// Topics returns the conversations of the account: the contact group of
// every accepted contact and every multi-member group the account is in,
// as this device knows them, sorted by topic.
func (n *Node) Topics() []GroupInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.acct.rep.State()
	var out []GroupInfo
	for topic, run := range n.groups {
		if run == n.acct || !run.rep.Joined() {
			continue
		}
		switch run.g.Kind {
		case group.KindContact:
			other := run.g.Owners[0]
			if n.isOwnKey(other) {
				other = run.g.Owners[1]
			}
			c := s.Contacts()[other]
			if c == nil || c.State != state.ContactAccepted {
				continue
			}
			out = append(out, GroupInfo{Topic: topic, Kind: run.g.Kind, Name: c.Name, Contact: other})
		case group.KindMulti:
			j := s.Groups()[run.g.ID]
			if j != nil && j.Left {
				continue
			}
			out = append(out, GroupInfo{Topic: topic, Kind: run.g.Kind, Name: n.groupName(run)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Topic[:]) < string(out[j].Topic[:]) })
	return out
}

// groupName is a multi-member group's name: the one its metadata gives,
// or until this device can read that (a joiner that no member has let in
// yet), the one the invitation gave, as the account group recorded it.
func (n *Node) groupName(run *groupRun) string {
	if name := run.rep.State().Name(); name != "" {
		return name
	}
	if j := n.acct.rep.State().Groups()[run.g.ID]; j != nil {
		return j.Name
	}
	return ""
}

// Leave leaves a multi-member group: the account's removal of itself, with
// the cut-offs of its devices (§5.3), and the group recorded as left on the
// account group so the account's other devices leave too.
func (n *Node) Leave(topic [32]byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	run, err := n.run(topic)
	if err != nil {
		return err
	}
	if run.g.Kind != group.KindMulti {
		return ErrNotMulti
	}
	if run.rep.State().Member(run.rep.MemberKey()) == nil {
		// Never let in (waiting for an admin, or declined): there is no
		// membership to give up in the group, only the account's record.
		return n.accountPost(&state.Event{Left: &state.GroupLeft{ID: run.g.ID}})
	}
	if err := n.stepAll(run, func(lk feed.Lookup) error { return run.rep.Remove(run.rep.MemberKey(), lk) }); err != nil {
		return err
	}
	return n.accountPost(&state.Event{Left: &state.GroupLeft{ID: run.g.ID}})
}
