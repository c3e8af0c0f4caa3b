package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/core/state"
)

// ErrKeySucceeded is returned for a contact link or request signed by a key
// that a contact's account has moved on from (§5.9): whoever holds the old
// key — a stolen device — is not that contact any more.
var ErrKeySucceeded = errors.New("signed by a key the account has replaced")

// Account keys (§5.9). The account's first key (n.account) stays the
// anchor: it names the account group and derives the member keys of
// multi-member groups. The account's current key — the last succession the
// account group counts — signs contact links and contact requests, and the
// contact groups made with it derive from it.

// keyAt returns the pair of one of this account's keys, or nil if the
// account group carries no seed for it (yet).
func (n *Node) keyAt(pub keys.Public) *keys.Pair {
	if pub == n.account.Public() {
		return n.account
	}
	if n.acct == nil {
		return nil
	}
	if seed, ok := n.acct.rep.State().AccountSeed(pub); ok {
		return keys.FromSeed(seed)
	}
	return nil
}

// currentKey returns the account's current key pair.
func (n *Node) currentKey() *keys.Pair {
	if n.acct == nil {
		return n.account
	}
	if p := n.keyAt(n.acct.rep.State().CurrentKey(n.account.Public())); p != nil {
		return p
	}
	return n.account
}

// isOwnKey reports whether pub is one of this account's keys, current or
// earlier.
func (n *Node) isOwnKey(pub keys.Public) bool {
	if pub == n.account.Public() {
		return true
	}
	if n.acct == nil {
		return false
	}
	_, ok := n.acct.rep.State().AccountSeed(pub)
	return ok
}

// AccountKey returns the account's current key: the one its contact link
// carries.
func (n *Node) AccountKey() keys.Public {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.currentKey().Public()
}

// FirstAccountKey returns the account's first key, which names its account
// group and stays the same when the account moves to a new key.
func (n *Node) FirstAccountKey() keys.Public { return n.account.Public() }

// contactGroup returns the contact group with account: derived from the
// key this account recorded for the contact (Own), or for a new contact
// from its current key.
func (n *Node) contactGroup(account keys.Public) (*group.Group, error) {
	own := n.currentKey()
	if c := n.contact(account); c != nil && n.hasContactGroup(c) {
		if own = n.keyAt(n.ownKeyOf(c)); own == nil {
			return nil, fmt.Errorf("contact %v: this device does not hold the account key %v the contact was made with", account, c.Own)
		}
	}
	return group.Contact(own, account)
}

// ownKeyOf returns the account key this account uses with the contact
// (a zero Own is the first key, §5.1).
func (n *Node) ownKeyOf(c *state.Contact) keys.Public {
	if c.Own == (keys.Public{}) {
		return n.account.Public()
	}
	return c.Own
}

// hasContactGroup reports whether a contact group with c exists on this
// device, made with the key c records: a contact that was only requested,
// declined or blocked before one was made gets the current key when it
// becomes one.
func (n *Node) hasContactGroup(c *state.Contact) bool {
	return n.contactState(c) != nil || c.State == state.ContactAccepted || c.State == state.ContactSent
}

// contactKey returns what this node knows of the key an account signs with,
// as a contact: the contact it is the key of, and whether the contact has
// moved on from it since. A key that is no contact's gives nil.
func (n *Node) contactKey(pub keys.Public) (c *state.Contact, succeeded bool) {
	if c := n.contact(pub); c != nil && !n.movedOn(c) {
		return c, false
	}
	// A contact whose current key it is first: which contact a key is
	// must not depend on the order of a map.
	for _, c := range n.acct.rep.State().Contacts() {
		if st := n.contactState(c); st != nil && st.CurrentKey(c.Account) == pub {
			return c, false
		}
	}
	for _, c := range n.acct.rep.State().Contacts() {
		st := n.contactState(c)
		if st == nil {
			continue
		}
		if c.Account == pub || slices.Contains(st.NamedKeys(c.Account), pub) {
			return c, true
		}
	}
	return nil, false
}

// movedOn reports whether the contact's account moved to another key.
func (n *Node) movedOn(c *state.Contact) bool { return len(n.contactChain(c)) > 0 }

// contactChain returns the successions of the contact's key that its
// contact group counts (§5.9), if this device is in that group.
func (n *Node) contactChain(c *state.Contact) []keys.Succession {
	if st := n.contactState(c); st != nil {
		return st.KeyChain(c.Account)
	}
	return nil
}

// contactState returns the state of the contact group with c, if this
// device has it.
func (n *Node) contactState(c *state.Contact) *state.State {
	ownKey := n.ownKeyOf(c)
	var pair [64]byte
	copy(pair[:32], ownKey[:])
	copy(pair[32:], c.Account[:])
	topic, ok := n.contactTopics[pair]
	if !ok {
		own := n.keyAt(ownKey)
		if own == nil {
			return nil
		}
		g, err := group.Contact(own, c.Account)
		if err != nil {
			return nil
		}
		topic = g.Keys.Topic
		n.contactTopics[pair] = topic
	}
	if run := n.groups[topic]; run != nil {
		return run.rep.State()
	}
	return nil
}

// ContactKey returns the key a contact's account signs with now: the
// account key it was added with, or the one it moved to (§5.9).
func (n *Node) ContactKey(account keys.Public) keys.Public {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.contact(account); c != nil {
		return n.contactCurrent(c)
	}
	return account
}

// RotateAccountKey moves the account to a new key (§5.9): a fresh seed,
// recorded with the succession on the account group, sealed in its
// current epoch, so that the account's current devices — and not a device
// revoked before — hold it. The contact link gets a new seed too (the old
// link, signed by the old key, stops being answered), and every contact
// group is told, so that contacts refuse the old key from then on. New
// contacts are made with the new key. RevokeDevice calls it: a revoked
// device holds the old key.
func (n *Node) RotateAccountKey() (keys.Public, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return keys.Public{}, ErrClosed
	}
	if n.revoked() {
		return keys.Public{}, ErrRevoked
	}
	if err := n.rotateAccountKey(); err != nil {
		return keys.Public{}, err
	}
	return n.currentKey().Public(), nil
}

func (n *Node) rotateAccountKey() error {
	if err := n.recordNewKey(); err != nil {
		return err
	}
	return n.announceSuccessions()
}

// recordNewKey records a new account key and a new contact-link seed on
// the account group, in one commit.
func (n *Node) recordNewKey() error {
	if err := n.step(n.acct, n.postNewKey); err != nil {
		return err
	}
	return errors.Join(n.approveSiblings(), n.syncProfile())
}

// postNewKey writes, within the caller's step on the account group, a new
// account key moving on from the current one, and a new link seed: the old
// link carries the old key.
func (n *Node) postNewKey(lk feed.Lookup) error {
	var seed, link [32]byte
	if _, err := n.cfg.Rand.Read(seed[:]); err != nil {
		return fmt.Errorf("new account key: %w", err)
	}
	if _, err := n.cfg.Rand.Read(link[:]); err != nil {
		return fmt.Errorf("new link seed: %w", err)
	}
	rec := keys.NewSuccession(n.currentKey(), keys.FromSeed(seed))
	if err := n.acct.rep.Post(&state.Event{Succeeded: &state.Succeeded{Record: rec, Seed: &seed}}, lk); err != nil {
		return fmt.Errorf("new account key: %w", err)
	}
	return n.acct.rep.Post(&state.Event{Seed: &state.RendezvousSeed{Seed: link}}, lk)
}

// rotationDue reports whether the account's current key may be known to a
// device revoked since, so that the account must move on (§5.9): the first
// key once any device of the account is revoked, or a key whose record was
// sealed in an epoch a revoked device held — a sibling that rotated before
// it saw the revocation, a revoker that crashed between the revocation and
// its new key, a revocation that voided the record that stood. Every device
// of the account checks after each receive; a record it writes is sealed in
// its current epoch, which no cut device holds, so this settles.
func (n *Node) rotationDue() bool {
	if n.member(n.acct) == nil {
		return false // not counting on the account group (yet)
	}
	first := n.account.Public()
	st := n.acct.rep.State()
	if m := st.Member(first); m == nil || len(m.Revoked) == 0 {
		return false
	}
	author, seq, ok := st.CurrentKeyEntry(first)
	if !ok {
		return true
	}
	return n.acct.rep.SealedWhereCut(author, seq, n.lookup(n.acct))
}

// announceSuccessions tells every contact group where this account's key
// there is not the account's current one that the account moved (§5.9):
// after a rotation by this device or a sibling, and after a revocation
// voided a rotation by the revoked device. A record moves straight from
// the group's key to the current one, whatever lies between.
//
// Callers make sure the account's key is not due (rotationDue): a key about
// to be replaced is not one to tell contacts.
func (n *Node) announceSuccessions() error {
	if n.revoked() {
		return nil
	}
	cur := n.currentKey()
	var errs []error
	for _, run := range n.groups {
		if run.g.Kind != group.KindContact || n.member(run) == nil {
			continue
		}
		here := run.rep.State().CurrentKey(run.rep.MemberKey())
		if here == cur.Public() {
			continue
		}
		old := n.keyAt(here)
		if old == nil {
			// A sibling's rotation whose account-group record has not
			// reached this device yet (a revoked device's records do not
			// count, §5.9): it comes back after the next receive.
			continue
		}
		rec := keys.NewSuccession(old, cur)
		errs = append(errs, n.step(run, func(lk feed.Lookup) error {
			return run.rep.Post(&state.Event{Succeeded: &state.Succeeded{Record: rec}}, lk)
		}))
	}
	return errors.Join(errs...)
}

// contactCurrent returns the key the contact's account signs with now.
func (n *Node) contactCurrent(c *state.Contact) keys.Public {
	if chain := n.contactChain(c); len(chain) > 0 {
		return chain[len(chain)-1].New
	}
	return c.Account
}

// ErrSafetyMismatch is returned when the safety number a user typed or
// scanned is not the one of this account and the contact (§11.8).
var ErrSafetyMismatch = errors.New("the safety numbers differ")

// Safety is a contact's safety number as this account sees it (§11.8).
type Safety struct {
	Number string // 60 digits
	// Verified: the user confirmed this very number. Changed: the user
	// confirmed a number before, and a key has moved on since (§5.9).
	Verified, Changed bool
}

// SafetyNumber returns the safety number of this account and a contact:
// of this account's current key and the contact's, as their contact group
// knows it.
func (n *Node) SafetyNumber(account keys.Public) (Safety, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.safetyNumber(account)
}

func (n *Node) safetyNumber(account keys.Public) (Safety, error) {
	out, theirs, own, err := n.verification(account)
	if err != nil {
		return Safety{}, err
	}
	if out.Number, err = safety.Number(theirs, own); err != nil {
		return Safety{}, err
	}
	return out, nil
}

// Verification returns whether the user verified the contact's current
// safety number, or one before a key moved on — without computing the
// number (2.7 ms: a contact list shows the flags of every contact).
func (n *Node) Verification(account keys.Public) (Safety, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out, _, _, err := n.verification(account)
	return out, err
}

func (n *Node) verification(account keys.Public) (out Safety, theirs, own keys.Public, err error) {
	c := n.contact(account)
	if c == nil {
		return out, theirs, own, fmt.Errorf("%w from %v", ErrNoRequest, account)
	}
	theirs, own = n.contactCurrent(c), n.currentKey().Public()
	if v, ok := n.acct.rep.State().Verification(account); ok {
		out.Verified = v.Theirs == theirs && v.Own == own
		out.Changed = !out.Verified
	}
	return out, theirs, own, nil
}

// VerifyContact records that the user compared the contact's safety number
// (§11.8). With typed (digits, or the text of the contact's QR code), it
// first checks that it is this number: ErrSafetyMismatch if not, which
// means one side does not hold the other's real key (or a key moved on and
// one side has not learnt it yet). Without, the user confirms having
// compared by eye. Clear forgets the record.
func (n *Node) VerifyContact(account keys.Public, typed string, clear bool) (Safety, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return Safety{}, ErrClosed
	}
	s, err := n.safetyNumber(account)
	if err != nil {
		return Safety{}, err
	}
	rec := state.ContactVerified{Account: account}
	if !clear {
		if typed != "" {
			got, err := safety.Parse(typed)
			if err != nil {
				return s, err
			}
			if got != s.Number {
				return s, fmt.Errorf("%w: this is not the number of your key and %v's; do not trust this contact's key until you find out why", ErrSafetyMismatch, account)
			}
		}
		rec.Theirs, rec.Own = n.contactCurrent(n.contact(account)), n.currentKey().Public()
	}
	if err := n.accountPost(&state.Event{Verified: &rec}); err != nil {
		return s, err
	}
	return n.safetyNumber(account)
}
