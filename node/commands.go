package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/store"
)

// GroupInfo describes a group the account is in.
type GroupInfo struct {
	Topic   [32]byte
	Kind    group.Kind
	Name    string
	Members []MemberInfo
	// Contact is the other account of a contact group.
	Contact keys.Public
	// JoinsNeedApproval: an admin must admit each join through a link
	// (§5.5); Awaiting lists the joins that wait, in the order they came.
	JoinsNeedApproval bool
	Awaiting          []state.AwaitingJoin
}

// Member returns the member with the given key, if the group has it.
func (gi *GroupInfo) Member(key keys.Public) (MemberInfo, bool) {
	for _, m := range gi.Members {
		if m.Key == key {
			return m, true
		}
	}
	return MemberInfo{}, false
}

// MemberInfo describes a group member.
type MemberInfo struct {
	Key     keys.Public
	Admin   bool
	Removed bool
	Devices int
	Name    string // the member's display name (§5.8)
	// DeviceKeys are the member's current devices' keys in the group.
	DeviceKeys []keys.Public
}

// AddContact makes the contact group with another account (§3.3.2) and
// records the contact as accepted on the account group. Both sides calling it
// with each other's key end up in the same group. (Contact requests over the
// network come with the contacts work; this is the protocol step they end in.)
func (n *Node) AddContact(other keys.Public, name string) ([32]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return [32]byte{}, ErrClosed
	}
	g, err := n.contactGroup(other)
	if err != nil {
		return [32]byte{}, err
	}
	run := n.groups[g.Keys.Topic]
	if run == nil {
		if run, err = n.attach(g, nil); err != nil {
			return [32]byte{}, err
		}
	}
	if err := n.step(run, func(lk feed.Lookup) error { return run.rep.AnnounceOwner(lk) }); err != nil {
		return [32]byte{}, err
	}
	err = n.setContact(state.Contact{Account: other, State: state.ContactAccepted, Name: name, Own: run.rep.MemberKey()})
	return g.Keys.Topic, err
}

// CreateGroup creates a multi-member group with this account as its creator
// and admin, and records it on the account group.
func (n *Node) CreateGroup(name string) ([32]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return [32]byte{}, ErrClosed
	}
	if len(name) > state.MaxName || !utf8.ValidString(name) || strings.TrimSpace(name) == "" {
		return [32]byte{}, ErrBadGroupName
	}
	g, err := group.Create(n.cfg.Rand)
	if err != nil {
		return [32]byte{}, err
	}
	run, err := n.attach(g, nil)
	if err != nil {
		return [32]byte{}, err
	}
	err = n.step(run, func(lk feed.Lookup) error {
		if err := run.rep.AnnounceGenesis(lk); err != nil {
			return err
		}
		return run.rep.Post(&state.Event{Info: &state.GroupInfo{Name: name}}, lk)
	})
	if err != nil {
		return [32]byte{}, err
	}
	if err := n.recordGroupDevice(run); err != nil {
		return [32]byte{}, err
	}
	err = n.accountPost(&state.Event{Joined: &state.GroupJoined{Kind: uint8(group.KindMulti), ID: g.ID, Secret: g.Secret, Name: name}})
	return g.Keys.Topic, err
}

// Invite returns an invitation to a multi-member group.
func (n *Node) Invite(topic [32]byte) (*replica.Invitation, error) {
	return n.InviteFor(topic, replica.DefaultInvitationTTL*time.Second)
}

// MaxInvitationTTL bounds an invitation's lifetime: a link is a password
// that cannot be changed, only revoked.
const MaxInvitationTTL = 365 * 24 * time.Hour

// ErrBadTTL: an invitation lifetime out of range.
var ErrBadTTL = fmt.Errorf("an invitation lasts from 1 minute to %d days", int(MaxInvitationTTL/(24*time.Hour)))

// InviteFor returns an invitation to a multi-member group that admits for
// ttl (§5.5): after it, a joiner's node refuses it.
func (n *Node) InviteFor(topic [32]byte, ttl time.Duration) (*replica.Invitation, error) {
	if ttl < time.Minute || ttl > MaxInvitationTTL {
		return nil, ErrBadTTL
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	expires := uint64(n.cfg.Now().Add(ttl).Unix())
	var inv *replica.Invitation
	err = n.stepAll(run, func(lk feed.Lookup) error {
		var err error
		inv, err = run.rep.InviteUntil(expires, lk)
		return err
	})
	return inv, err
}

// RevokeInvitation ends an invitation before its expiry (§5.5): the
// inviter's devices and admins may. Joins with it that its members had not
// seen yet are undone.
func (n *Node) RevokeInvitation(inv *replica.Invitation) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	run, err := n.run(inv.Group().Keys.Topic)
	if err != nil {
		return err
	}
	return n.stepAll(run, func(lk feed.Lookup) error { return run.rep.RevokeInvitation(inv.InviteKey(), lk) })
}

// ErrInvitationExpired: a group link past its expiry.
var ErrInvitationExpired = errors.New("this group link has expired: ask a member for a new one")

// ErrTooManyMemberships: an account joins a group at most
// state.MaxGroupKeys times (§3.2).
var ErrTooManyMemberships = fmt.Errorf("this account has joined this group %d times already, the most there can be: a new group is needed", state.MaxGroupKeys)

// ErrInvitationEnded: a group link made before a removal, leave or
// revocation, which ended it (§5.2), as this device saw.
var ErrInvitationEnded = errors.New("this group link was made before someone left or was removed, which ended it: ask a member for a new one")

// Join joins a multi-member group with an invitation and records it on the
// account group. Joining a group one is already in does nothing; joining a
// group the account left or was removed from starts a new membership
// (§3.2): the others see a new member, who reads from then on.
func (n *Node) Join(inv *replica.Invitation) ([32]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return [32]byte{}, ErrClosed
	}
	g := inv.Group()
	if now := n.cfg.Now().Unix(); now >= 0 && inv.Expires <= uint64(now) {
		return [32]byte{}, fmt.Errorf("%w (it expired %s)", ErrInvitationExpired, time.Unix(int64(inv.Expires), 0).UTC().Format(time.RFC3339))
	}
	run := n.groups[g.Keys.Topic]
	j := n.acct.rep.State().Groups()[g.ID]
	// over: the account was in the group and is no more (it left, or was
	// removed): it joins again as a new membership, with new member and
	// device keys (§3.2), since a removal is final for a member key.
	over := j != nil && j.Left
	if run != nil {
		me := run.rep.State().Member(run.rep.MemberKey())
		over = over || (me != nil && me.Removed)
		if run.rep.Joined() && !over {
			return g.Keys.Topic, nil // in already (or waiting to be let in)
		}
	}
	if j != nil && !over {
		// Another device of the account is in the group: this one follows
		// it there once approved (§5.7), as for any joined group.
		return g.Keys.Topic, n.reconcile()
	}
	if run != nil && run.rep.State().InvitationEnded(inv.InviteKey()) {
		return [32]byte{}, ErrInvitationEnded
	}
	var err error
	if run == nil {
		if run, err = n.attach(g, nil); err != nil {
			return [32]byte{}, err
		}
	}
	var k uint32
	if over {
		last := run.rep.Membership()
		if j != nil {
			last = max(last, j.Membership)
		}
		if last+1 >= state.MaxGroupKeys {
			// Each membership's device key is recorded on the account
			// group, at most MaxGroupKeys per device and group (§5.6).
			return [32]byte{}, ErrTooManyMemberships
		}
		k = last + 1
	}
	if !over {
		k = run.rep.Membership()
	}
	// The key is on the account group before anyone can see it in the
	// group: a sibling that syncs the group before the account group must
	// not take it for a device it knows nothing of (§5.6).
	_, dev := g.MemberKeysAt(n.account, n.device, k)
	if err := n.recordGroupKey(g.ID, dev.Public()); err != nil {
		return [32]byte{}, err
	}
	err = n.stepAll(run, func(lk feed.Lookup) error {
		if over {
			if err := run.rep.Rejoin(k); err != nil {
				return err
			}
		}
		return run.rep.AnnounceInvited(inv, lk)
	})
	if err != nil {
		return [32]byte{}, err
	}
	err = n.accountPost(&state.Event{Joined: &state.GroupJoined{Kind: uint8(group.KindMulti), ID: g.ID, Secret: g.Secret, Name: inv.Name, Membership: k}})
	return g.Keys.Topic, err
}

// Send sends one message to a group; it returns once the message is stored.
func (n *Node) Send(topic [32]byte, body []byte) (*replica.Message, error) {
	ms, err := n.SendBatch(topic, [][]byte{body})
	if err != nil {
		return nil, err
	}
	return &ms[0], nil
}

// SendBatch sends several messages with one durable commit: how a burst
// reaches tens of thousands of messages per second (fsync is the bottleneck).
// Either all are stored or none.
func (n *Node) SendBatch(topic [32]byte, bodies [][]byte) ([]replica.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	if n.revoked() {
		return nil, ErrRevoked
	}
	out := make([]replica.Message, 0, len(bodies))
	err = n.stepAll(run, func(lk feed.Lookup) error {
		for _, b := range bodies {
			m, err := run.rep.Send(b, lk)
			if err != nil {
				return err
			}
			out = append(out, *m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stepAll is step for all-or-nothing commands: on error, nothing is kept.
func (n *Node) stepAll(run *groupRun, fn func(lk feed.Lookup) error) error {
	if err := fn(n.lookup(run)); err != nil {
		n.reload(run)
		return err
	}
	return n.persist(run)
}

// Remove removes a member from a multi-member group (§5.3): admins may remove
// anyone, a member may remove itself.
func (n *Node) Remove(topic [32]byte, member keys.Public) error {
	return n.groupCommand(topic, func(run *groupRun, lk feed.Lookup) error { return run.rep.Remove(member, lk) })
}

// SetJoinApproval makes joins through a link to a multi-member group wait
// for an admin (on), or count at once (off) (§5.5). Admins only.
func (n *Node) SetJoinApproval(topic [32]byte, on bool) error {
	return n.groupCommand(topic, func(run *groupRun, lk feed.Lookup) error { return run.rep.SetJoinApproval(on, lk) })
}

// DecideJoin admits a member whose join waits for an admin, or declines
// it for good (§5.5). Admins only.
func (n *Node) DecideJoin(topic [32]byte, member keys.Public, admit bool) error {
	return n.groupCommand(topic, func(run *groupRun, lk feed.Lookup) error { return run.rep.DecideJoin(member, admit, lk) })
}

// groupCommand runs an all-or-nothing command of this device in a group,
// unless the device was revoked.
func (n *Node) groupCommand(topic [32]byte, fn func(run *groupRun, lk feed.Lookup) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	run, err := n.run(topic)
	if err != nil {
		return err
	}
	if n.revoked() {
		return ErrRevoked
	}
	return n.stepAll(run, func(lk feed.Lookup) error { return fn(run, lk) })
}

// ReceiveStats counts what Receive did with a batch. Appended is how much
// the group's feeds grew, entries released from the hold by this batch
// included; Held, Duplicates and Refused count the batch's own entries.
type ReceiveStats struct {
	Appended, Held, Duplicates, Refused int
	// FirstRefusal is why the first refused entry was refused, for logs.
	FirstRefusal error
}

// Receive ingests a batch of entries from the network for one group, with one
// commit for all of them. Entries that are refused are counted, not returned
// as an error: a bad peer must not stop the good entries of a batch. The
// error is for the node's own failures (storage).
func (n *Node) Receive(topic [32]byte, raws [][]byte) (ReceiveStats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	var st ReceiveStats
	run, err := n.run(topic)
	if err != nil {
		return st, err
	}
	entries, errs, dup := verifyAll(run.rep, n.lookup(run), raws)
	before := vectorSum(run.rep.Vector())
	err = n.step(run, func(lk feed.Lookup) error {
		for i, e := range entries {
			if dup[i] {
				st.Duplicates++
				continue
			}
			out, err := feed.Refused, errs[i]
			if err == nil {
				out, err = run.rep.ReceiveVerified(e, lk)
			}
			switch {
			case out == feed.Ready:
			case out == feed.Held:
				st.Held++
			case out == feed.Duplicate:
				st.Duplicates++
			default:
				st.Refused++
				if st.FirstRefusal == nil {
					st.FirstRefusal = err
				}
			}
			if err != nil && out == feed.Ready {
				return err // the replica's own failure after accepting
			}
			if err != nil && isStorageError(err) {
				return err
			}
		}
		return nil
	})
	st.Appended = max(0, int(vectorSum(run.rep.Vector())-before))
	if err == nil && run == n.acct {
		err = n.joinAccount()
	}
	if err == nil && (run == n.acct || !run.rep.Joined()) {
		err = n.reconcile()
	}
	if err == nil && st.Appended > 0 {
		err = errors.Join(n.noticeAccepted(run), n.approveSiblingsIn(run), n.syncProfileIn(run))
	}
	return st, err
}

func vectorSum(v map[keys.Public]uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

func isStorageError(err error) bool {
	var se *StorageError
	return errors.As(err, &se)
}

// Tick passes the clock to every replica (periodic chain rotation).
func (n *Node) Tick() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	if n.closed {
		return ErrClosed
	}
	now := n.cfg.Now().Unix()
	var errs []error
	for _, run := range n.groups {
		errs = append(errs, n.step(run, func(lk feed.Lookup) error { return run.rep.Tick(now, lk) }))
	}
	return errors.Join(errs...)
}

// Messages returns up to limit messages of a group in display order after a
// cursor (store.Cursor{} for the start).
func (n *Node) Messages(topic [32]byte, after store.Cursor, limit int) ([]store.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.run(topic); err != nil {
		return nil, err
	}
	return n.st.Messages(topic, after, limit)
}

// Group describes one group.
func (n *Node) Group(topic [32]byte) (*GroupInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	s := run.rep.State()
	gi := &GroupInfo{Topic: topic, Kind: run.g.Kind, Name: s.Name()}
	if run.g.Kind == group.KindMulti {
		gi.Name = n.groupName(run)
	}
	for _, m := range s.Members() {
		gi.Members = append(gi.Members, MemberInfo{Key: m.Key, Admin: m.Admin, Removed: m.Removed, Devices: len(m.Devices), Name: m.Name,
			DeviceKeys: slices.Clone(m.Devices)})
	}
	gi.JoinsNeedApproval, gi.Awaiting = s.JoinsNeedApproval(), s.Awaiting()
	me := run.rep.MemberKey()
	if run.g.Kind == group.KindMulti && run.rep.Joined() && s.Member(me) == nil && !s.Declined(me) &&
		!slices.ContainsFunc(gi.Awaiting, func(w state.AwaitingJoin) bool { return w.Member == me }) {
		// This device announced itself but cannot read yet what lets it
		// in: it waits for a member (an admin, where joins need approval)
		// to hand it the group's keys (§5.2, §5.5).
		gi.Awaiting = append(gi.Awaiting, state.AwaitingJoin{Member: me, Device: run.rep.DeviceKey()})
	}
	return gi, nil
}

// MemberKey returns this account's member key in a group.
func (n *Node) MemberKey(topic [32]byte) (keys.Public, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return keys.Public{}, err
	}
	return run.rep.MemberKey(), nil
}

// EarlierMemberKeys returns this account's member keys in a group from
// its earlier memberships (§3.2), oldest first: what it wrote before it
// left or was removed is its own too.
func (n *Node) EarlierMemberKeys(topic [32]byte) ([]keys.Public, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	var out []keys.Public
	for k := range run.rep.Membership() {
		m, _ := run.g.MemberKeysAt(n.account, n.device, k)
		out = append(out, m.Public())
	}
	return out, nil
}

// DeviceKeyIn returns the key this device writes with in a group: its own
// key in account and contact groups, its per-group key in multi-member
// groups (§3.2).
func (n *Node) DeviceKeyIn(topic [32]byte) (keys.Public, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return keys.Public{}, err
	}
	return run.rep.DeviceKey(), nil
}

// Vector returns a group's version vector.
func (n *Node) Vector(topic [32]byte) (map[keys.Public]uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	return run.rep.Vector(), nil
}

// Peer says what this device's replica of a group knows of a device that
// syncs with it — for a cut device, up to which clock it is served — and
// whether this device is a newcomer there (p2p.Source, §10.2).
func (n *Node) Peer(topic [32]byte, device keys.Public) (status replica.PeerStatus, until uint64, newcomer bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return replica.PeerUnknown, 0, false, err
	}
	if status = run.rep.Peer(device); status == replica.PeerCut {
		until = run.rep.CutAt(device)
	}
	return status, until, run.rep.Newcomer(), nil
}

// SignSync signs a sync statement with this device's key in a group
// (p2p.Source).
func (n *Node) SignSync(topic [32]byte, statement []byte) (keys.Public, []byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return keys.Public{}, nil, err
	}
	d, sig := run.rep.SignSync(statement)
	return d, sig, nil
}

// Announce returns this device's first entry in a group, or nil if it has
// not announced itself there (p2p.Source).
func (n *Node) Announce(topic [32]byte) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	run, err := n.run(topic)
	if err != nil {
		return nil, err
	}
	raws, err := n.st.EntriesAfter(topic, run.rep.DeviceKey(), 0, 1)
	if err != nil || len(raws) == 0 {
		return nil, err
	}
	return raws[0], nil
}

// Contacts returns the contacts recorded on the account group.
func (n *Node) Contacts() []state.Contact {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []state.Contact
	for _, c := range n.acct.rep.State().Contacts() {
		out = append(out, *c)
	}
	return out
}
