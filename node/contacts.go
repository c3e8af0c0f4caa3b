package node

import (
	"errors"
	"fmt"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/state"
)

// Contact-request errors callers branch on (§11.6).
var (
	ErrOwnLink   = errors.New("that is your own contact link")
	ErrBlocked   = errors.New("you blocked this account: unblock it first")
	ErrNoRequest = errors.New("no such contact request")
)

// MaxIncoming bounds the incoming requests waiting for the user; beyond it
// new requests are answered Busy (the requester retries later) so a flood
// of made-up accounts cannot grow the account group without limit.
const MaxIncoming = 256

// ContactLink returns the account's contact link, making its rendezvous
// seed on first use (recorded on the account group, so every device of the
// account gives out the same link and answers it).
func (n *Node) ContactLink() (*link.Contact, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return nil, ErrClosed
	}
	seed, ok := n.acct.rep.State().RendezvousSeed()
	if !ok {
		var err error
		if seed, err = n.newSeed(); err != nil {
			return nil, err
		}
	}
	return link.NewContact(n.currentKey(), seed, trimName(n.name))
}

// ResetContactLink replaces the rendezvous seed: every link given out
// before stops working (requests sent to it find no one); contacts already
// made are unaffected.
func (n *Node) ResetContactLink() (*link.Contact, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return nil, ErrClosed
	}
	seed, err := n.newSeed()
	if err != nil {
		return nil, err
	}
	return link.NewContact(n.currentKey(), seed, trimName(n.name))
}

// RendezvousSeed returns the account's current contact-link seed, if any.
func (n *Node) RendezvousSeed() ([32]byte, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acct.rep.State().RendezvousSeed()
}

func (n *Node) newSeed() ([32]byte, error) {
	var seed [32]byte
	if _, err := n.cfg.Rand.Read(seed[:]); err != nil {
		return seed, fmt.Errorf("new link seed: %w", err)
	}
	return seed, n.accountPost(&state.Event{Seed: &state.RendezvousSeed{Seed: seed}})
}

// trimName cuts a display name to what a link carries, on a rune boundary.
func trimName(s string) string {
	if len(s) <= link.MaxName {
		return s
	}
	cut := link.MaxName
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut]
}

// contact returns the recorded state of another account (nil: none).
func (n *Node) contact(account keys.Public) *state.Contact {
	return n.acct.rep.State().Contacts()[account]
}

// setContact records c, with the account key this account uses with it
// (§5.9): the one recorded before if their contact group exists, else the
// current one. The first key is recorded as zero (§5.1).
func (n *Node) setContact(c state.Contact) error {
	own := n.currentKey()
	if old := n.contact(c.Account); old != nil && n.hasContactGroup(old) {
		if own = n.keyAt(n.ownKeyOf(old)); own == nil {
			return fmt.Errorf("contact %v: this device does not hold the account key %v the contact was made with", c.Account, old.Own)
		}
	} else if c.Own != (keys.Public{}) {
		if own = n.keyAt(c.Own); own == nil {
			return fmt.Errorf("contact %v: not an account key of this account: %v", c.Account, c.Own)
		}
	}
	c.Own, c.OwnSeed = keys.Public{}, [32]byte{}
	if own.Public() != n.account.Public() {
		c.Own, c.OwnSeed = own.Public(), own.Seed()
	}
	return n.accountPost(&state.Event{Contact: &c})
}

// RequestContact records a request to the account of a contact link; the
// device's network side sends it (Outgoing) and retries until the other
// side has received it. It returns the contact's state afterwards:
// requesting again is a no-op, requesting an account that already asked us
// accepts it (mutual requests collapse into one contact), and a contact
// stays a contact.
func (n *Node) RequestContact(l *link.Contact) (state.ContactState, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return 0, ErrClosed
	}
	if n.isOwnKey(l.Account) {
		return 0, ErrOwnLink
	}
	c, succeeded := n.contactKey(l.Account)
	if succeeded {
		return 0, fmt.Errorf("%w: the account of %q moved to key %v; a device of theirs may have been lost or stolen: ask them for a new link", ErrKeySucceeded, c.Name, n.contactCurrent(c))
	}
	if c != nil && c.Account != l.Account {
		return c.State, nil // a contact's link with the key it moved to
	}
	switch {
	case c == nil:
	case c.State == state.ContactAccepted:
		return c.State, nil
	case c.State == state.ContactBlocked:
		return c.State, ErrBlocked
	case c.State == state.ContactIncoming:
		return state.ContactAccepted, n.accept(l.Account, l.Name)
	case (c.State == state.ContactOutgoing || c.State == state.ContactSent) && c.Seed == l.Seed:
		return c.State, nil
	}
	return state.ContactOutgoing, n.setContact(state.Contact{Account: l.Account, State: state.ContactOutgoing, Name: l.Name, Seed: l.Seed})
}

// accept joins the contact group and records the contact as accepted.
func (n *Node) accept(account keys.Public, name string) error {
	g, err := n.contactGroup(account)
	if err != nil {
		return err
	}
	// A sent request means a device of the account is in the group already.
	follow := false
	if c := n.contact(account); c != nil && c.State == state.ContactSent {
		follow = true
	}
	if err := n.ensure(g, follow, func(run *groupRun, lk feed.Lookup) error { return run.rep.AnnounceOwner(lk) }); err != nil {
		return err
	}
	return n.setContact(state.Contact{Account: account, State: state.ContactAccepted, Name: name})
}

// Outgoing returns the requests waiting to be sent.
func (n *Node) Outgoing() []state.Contact {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []state.Contact
	for _, c := range n.acct.rep.State().Contacts() {
		if c.State == state.ContactOutgoing {
			out = append(out, *c)
		}
	}
	return out
}

// NewRequester starts the handshake of an outgoing request, met at point.
// The request is signed with the key this account recorded for the
// contact (its contact group derives from it).
func (n *Node) NewRequester(to keys.Public, point [32]byte) (*handshake.Requester, error) {
	n.mu.Lock()
	own := n.currentKey()
	if c := n.contact(to); c != nil {
		if p := n.keyAt(n.ownKeyOf(c)); p != nil {
			own = p
		}
	}
	n.mu.Unlock()
	return handshake.NewRequester(own, trimName(n.name), to, point, n.cfg.Rand)
}

// NewResponder starts answering a request that arrived at point, as the
// account's current key: the one its link carries.
func (n *Node) NewResponder(point [32]byte) (*handshake.Responder, error) {
	n.mu.Lock()
	own := n.currentKey()
	n.mu.Unlock()
	return handshake.NewResponder(own, point, n.cfg.Rand)
}

// RequestSent records that the other side received our request: this
// device joins the contact group (so it sees the other side join when it
// accepts) and the request becomes Sent. A request cancelled meanwhile
// stays cancelled.
func (n *Node) RequestSent(to keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	c := n.contact(to)
	if c == nil || c.State != state.ContactOutgoing {
		return nil
	}
	g, err := n.contactGroup(to)
	if err != nil {
		return err
	}
	if err := n.ensure(g, false, func(run *groupRun, lk feed.Lookup) error { return run.rep.AnnounceOwner(lk) }); err != nil {
		return err
	}
	return n.setContact(state.Contact{Account: to, State: state.ContactSent, Name: c.Name, Seed: c.Seed})
}

// IncomingRequest records a request a handshake has authenticated and says
// what to answer (§11.6). A repeat is a no-op; a request from an account
// we asked too accepts it; a blocked account's request is dropped but
// answered Received, so that it cannot tell and stops retrying.
func (n *Node) IncomingRequest(card *handshake.Card) (handshake.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return 0, ErrClosed
	}
	if n.isOwnKey(card.Account) {
		return handshake.StatusReceived, nil
	}
	if c, succeeded := n.contactKey(card.Account); succeeded || (c != nil && c.Account != card.Account) {
		// From a key a contact moved on from — whoever holds it is not
		// that contact now (§5.9) — or from a contact under its new key:
		// nothing to record either way.
		return handshake.StatusReceived, nil
	}
	c := n.contact(card.Account)
	switch {
	case c == nil, c.State == state.ContactDiscarded, c.State == state.ContactNone:
	case c.State == state.ContactOutgoing || c.State == state.ContactSent:
		return handshake.StatusReceived, n.accept(card.Account, c.Name)
	default: // incoming already, accepted, or blocked
		return handshake.StatusReceived, nil
	}
	waiting := 0
	for _, x := range n.acct.rep.State().Contacts() {
		if x.State == state.ContactIncoming {
			waiting++
		}
	}
	if waiting >= MaxIncoming {
		return handshake.StatusBusy, nil
	}
	return handshake.StatusReceived, n.setContact(state.Contact{Account: card.Account, State: state.ContactIncoming, Name: card.Name})
}

// AcceptContact accepts an incoming (or earlier discarded) request: both
// sides are then in the contact group and can chat at once.
func (n *Node) AcceptContact(account keys.Public) error {
	return n.transition(account, func(c *state.Contact) (bool, error) {
		if c.State == state.ContactAccepted {
			return true, nil // accepted already: accepting again is a no-op
		}
		if c.State != state.ContactIncoming && c.State != state.ContactDiscarded {
			return false, nil
		}
		return true, n.accept(account, c.Name)
	})
}

// DiscardContact declines an incoming request.
func (n *Node) DiscardContact(account keys.Public) error {
	return n.transition(account, func(c *state.Contact) (bool, error) {
		if c.State != state.ContactIncoming {
			return false, nil
		}
		return true, n.setContact(state.Contact{Account: account, State: state.ContactDiscarded, Name: c.Name})
	})
}

// CancelContactRequest cancels an outgoing request. If the other side had
// received it already and accepts later, this account does not treat it as
// a contact.
func (n *Node) CancelContactRequest(account keys.Public) error {
	return n.transition(account, func(c *state.Contact) (bool, error) {
		if c.State != state.ContactOutgoing && c.State != state.ContactSent {
			return false, nil
		}
		return true, n.setContact(state.Contact{Account: account, State: state.ContactNone, Name: c.Name})
	})
}

// BlockContact blocks an account, whatever its state: its requests are
// refused from now on.
func (n *Node) BlockContact(account keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	if n.isOwnKey(account) {
		return errors.New("cannot block your own account")
	}
	name := ""
	if c := n.contact(account); c != nil {
		name = c.Name
	}
	return n.setContact(state.Contact{Account: account, State: state.ContactBlocked, Name: name})
}

// UnblockContact lifts a block. An account that was a contact before (this
// account is in their contact group) is a contact again at once, with its
// conversation; any other account is then no contact at all.
func (n *Node) UnblockContact(account keys.Public) error {
	return n.transition(account, func(c *state.Contact) (bool, error) {
		if c.State != state.ContactBlocked {
			return false, nil
		}
		next := state.ContactNone
		if g, err := n.contactGroup(account); err == nil {
			if run := n.groups[g.Keys.Topic]; run != nil && run.rep.Joined() {
				next = state.ContactAccepted
			}
		}
		return true, n.setContact(state.Contact{Account: account, State: next, Name: c.Name})
	})
}

// transition applies fn to a recorded contact under the lock; fn says
// whether the contact was in a state it applies to.
func (n *Node) transition(account keys.Public, fn func(*state.Contact) (bool, error)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	c := n.contact(account)
	if c == nil {
		return fmt.Errorf("%w from %v", ErrNoRequest, account)
	}
	ok, err := fn(c)
	if !ok && err == nil {
		return fmt.Errorf("%w from %v: the contact is %v", ErrNoRequest, account, c.State)
	}
	return err
}

// noticeAccepted turns a sent request into a contact once the other
// account's device has announced itself in the contact group.
func (n *Node) noticeAccepted(run *groupRun) error {
	if run.g.Kind != group.KindContact {
		return nil
	}
	for _, o := range run.g.Owners {
		if n.isOwnKey(o) {
			continue
		}
		c := n.contact(o)
		if c == nil || c.State != state.ContactSent {
			return nil
		}
		if m := run.rep.State().Member(o); m == nil || len(m.Devices) == 0 {
			return nil
		}
		return n.setContact(state.Contact{Account: o, State: state.ContactAccepted, Name: c.Name})
	}
	return nil
}
