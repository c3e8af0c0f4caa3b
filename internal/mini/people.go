package mini

import (
	"encoding/hex"
	"fmt"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/term"
)

// The daemon's contact and member events say that something changed, not
// what: the model keeps the last contact list and each conversation's
// members, and tells the differences as system lines.

// setContacts keeps the contact list and says what changed since the last
// read (the first read is the baseline: only waiting requests are told).
func (m *Model) setContacts(list []*bv1.Contact) {
	next := make(map[string]*bv1.Contact, len(list))
	for _, c := range list {
		next[string(c.Account)] = c
	}
	if m.contacts == nil {
		n := 0
		for _, c := range list {
			if c.State == bv1.ContactState_CONTACT_STATE_INCOMING {
				n++
			}
		}
		if n > 0 {
			m.sys("", lineInfo, count(n, "contact request", "contact requests")+" waiting: /accept or /discard")
		}
		for _, c := range list {
			if c.VerificationChanged {
				m.sys("", lineError, safetyChanged(c))
			}
		}
		m.contacts = next
		return
	}
	for _, c := range list {
		old, had := m.contacts[string(c.Account)]
		if c.VerificationChanged && (!had || !old.VerificationChanged) {
			m.sys("", lineError, safetyChanged(c))
		}
		if had && old.State == c.State {
			continue
		}
		name := contactName(c)
		switch c.State {
		case bv1.ContactState_CONTACT_STATE_INCOMING:
			m.sys("", lineInfo, "contact request from "+name+": /accept "+name+" to accept, /discard "+name+" to decline")
		case bv1.ContactState_CONTACT_STATE_SENT:
			m.sys("", lineInfo, name+" received your contact request: waiting for them to accept")
		case bv1.ContactState_CONTACT_STATE_ACCEPTED:
			m.sys("", lineInfo, name+" is now a contact")
		case bv1.ContactState_CONTACT_STATE_OUTGOING:
			// What /contact add already said.
		default:
			m.sys("", lineInfo, "contact "+name+": "+stateName(c.State))
		}
	}
	m.contacts = next
}

// setMembers keeps a conversation's members and says who joined, left or
// changed (the first read is the baseline).
func (m *Model) setMembers(topic string, list []*bv1.Member) {
	next := make(map[string]*bv1.Member, len(list))
	members := list[:0:0]
	for _, mb := range list {
		if mb.Awaiting {
			continue // not a member yet: it joins when an admin (or a member) lets it in
		}
		next[string(mb.Key)] = mb
		members = append(members, mb)
	}
	list = members
	old := m.members[topic]
	m.members[topic] = next
	if old == nil {
		return
	}
	for _, mb := range list {
		if mb.Self {
			continue
		}
		o, had := old[string(mb.Key)]
		name := memberName(mb)
		switch {
		case !had && mb.Name == "":
			// A member's profile follows its join: tell the join with the
			// name, on the read that brings it.
			delete(next, string(mb.Key))
		case !had && !mb.Removed:
			m.sys(topic, lineInfo, name+" joined")
		case had && !o.Removed && mb.Removed:
			m.sys(topic, lineInfo, name+" was removed: the group's keys rotate")
		case had && o.Name != mb.Name && o.Name != "":
			m.sys(topic, lineInfo, memberName(o)+" is now "+name)
		case had && o.Devices != mb.Devices:
			m.sys(topic, lineInfo, fmt.Sprintf("%s now has %s: keys updated", name, count(int(mb.Devices), "device", "devices")))
		}
	}
}

// contactName and memberName are cleaned, like the names in view.go.

func contactName(c *bv1.Contact) string {
	if c.Name != "" {
		return term.Clean(c.Name)
	}
	return shortHex(c.Account)
}

func memberName(mb *bv1.Member) string {
	if mb.Name != "" {
		return term.Clean(mb.Name)
	}
	return shortHex(mb.Key)
}

func shortHex(b []byte) string {
	if len(b) > 4 {
		b = b[:4]
	}
	return hex.EncodeToString(b)
}

// safetyChanged tells that a verified contact's safety number changed
// (docs/protocol.md §11.8).
func safetyChanged(c *bv1.Contact) string {
	name := contactName(c)
	return "the safety number with " + name + " changed since you verified it (a key moved on: a device was revoked?): select " + name + " and /verify"
}
