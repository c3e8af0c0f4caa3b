package messenger

import (
	"fmt"
	"time"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
)

// Contact is one entry of the contact list: a request in any state, or a
// contact.
type Contact struct {
	Account keys.Public
	Name    string
	State   state.ContactState
	// Topic is the 1:1 conversation, once the contact is accepted.
	Topic *[32]byte
}

// Contacts returns the account's contacts and requests, as the account
// group records them (§11.6).
func (m *Messenger) Contacts() ([]Contact, error) {
	n, err := m.attached()
	if err != nil {
		return nil, err
	}
	topics := map[keys.Public][32]byte{}
	for _, gi := range n.Topics() {
		if gi.Kind == group.KindContact {
			topics[gi.Contact] = gi.Topic
		}
	}
	var out []Contact
	for _, c := range n.Contacts() {
		ct := Contact{Account: c.Account, Name: c.Name, State: c.State}
		if t, ok := topics[c.Account]; ok {
			ct.Topic = &t
		}
		out = append(out, ct)
	}
	return out, nil
}

// Member is one member of a conversation.
type Member struct {
	Key     keys.Public
	Name    string
	Admin   bool
	Creator bool // the member who created the group
	Removed bool
	Devices int
	Self    bool
	// Awaiting: joined through a link and waits for an admin to admit it
	// (§5.5); Inviter made the link.
	Awaiting bool
	Inviter  keys.Public
}

// Members returns a conversation's members in the order they joined; a
// group's first member is its creator. The joins that wait for an admin
// follow, in the order they came.
func (m *Messenger) Members(topic [32]byte) ([]Member, error) {
	n, err := m.attached()
	if err != nil {
		return nil, err
	}
	gi, err := n.Group(topic)
	if err != nil {
		return nil, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
	}
	v, err := m.view(topic)
	if err != nil {
		return nil, err
	}
	var out []Member
	for i, mb := range gi.Members {
		out = append(out, Member{Key: mb.Key, Name: v.names[mb.Key], Admin: mb.Admin, Removed: mb.Removed,
			Devices: mb.Devices, Self: mb.Key == v.me, Creator: i == 0 && gi.Kind == group.KindMulti && mb.Admin})
	}
	for _, w := range gi.Awaiting {
		out = append(out, Member{Key: w.Member, Awaiting: true, Inviter: w.Inviter, Devices: 1, Self: w.Member == v.me})
	}
	return out, nil
}

// InvitationLink returns a group link for a multi-member group (§11.2):
// anyone who has it can join, so share it like a password.
func (m *Messenger) InvitationLink(topic [32]byte) (*link.Group, error) {
	l, _, err := m.InvitationLinkFor(topic, replica.DefaultInvitationTTL*time.Second)
	return l, err
}

// InvitationLinkFor is InvitationLink for a link that admits for ttl; it
// returns when the link expires too.
func (m *Messenger) InvitationLinkFor(topic [32]byte, ttl time.Duration) (*link.Group, time.Time, error) {
	n, err := m.attached()
	if err != nil {
		return nil, time.Time{}, err
	}
	gi, err := n.Group(topic)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
	}
	if gi.Kind != group.KindMulti {
		return nil, time.Time{}, ErrNotInvitation
	}
	inv, err := n.InviteFor(topic, ttl)
	if err != nil {
		return nil, time.Time{}, err
	}
	l, err := link.NewGroup(inv.Encode())
	return l, time.Unix(int64(inv.Expires), 0), err
}

// Leave leaves a multi-member group on all the account's devices.
func (m *Messenger) Leave(topic [32]byte) error {
	n, err := m.attached()
	if err != nil {
		return err
	}
	if err := n.Leave(topic); err != nil {
		return err
	}
	m.emit(Event{Kind: ConversationUpdated, Topic: topic})
	return nil
}
