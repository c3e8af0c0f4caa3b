package state

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"sort"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// Signature contexts for membership proofs (§5.2).
const (
	ctxGenesis    = "berty/v1/genesis"
	ctxInvitation = "berty/v2/invitation"
	ctxJoin       = "berty/v1/join"
)

// GenesisSigned is what the group key signs for the creator's member key.
func GenesisSigned(groupID, member keys.Public) []byte {
	return keys.SignContext(ctxGenesis, groupID[:], member[:])
}

// InvitationSigned is what an inviting member signs for an invitation key
// and its expiry (unix seconds).
func InvitationSigned(groupID, inviteKey keys.Public, expires uint64) []byte {
	return keys.SignContext(ctxInvitation, groupID[:], inviteKey[:], binary.BigEndian.AppendUint64(nil, expires))
}

// JoinSigned is what a joiner signs with the invitation key.
func JoinSigned(groupID, member keys.Public) []byte {
	return keys.SignContext(ctxJoin, groupID[:], member[:])
}

// Op is a membership event with the entry fields that place it.
type Op struct {
	Author  keys.Public // device
	Seq     uint64
	Lamport uint64
	ID      [32]byte
	Event   *Event
}

func opLess(a, b *Op) bool {
	if a.Lamport != b.Lamport {
		return a.Lamport < b.Lamport
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}

// Member is a member as the state sees it.
type Member struct {
	Key     keys.Public
	Admin   bool
	Removed bool
	Devices []keys.Public
	// Cutoffs of a removed member's devices: the last valid seq of each.
	Cutoffs map[keys.Public]uint64
	// Revoked devices of a current member (no longer in Devices): the last
	// valid seq of each (§5.6).
	Revoked map[keys.Public]uint64
	// Name is the member's display name (§5.8), "" until it sets one.
	Name string
	// Dropped: the member was removed because a removal or revocation that
	// did not know it left it out of its roster (§5.3), or because it
	// joined with a revoked invitation its revoker did not see it use
	// (§5.5). Removed is set too.
	Dropped bool
	// InviteKey is the invitation the member joined with (zero otherwise),
	// Inviter the member who made it, inviteEra the era it joined in.
	InviteKey keys.Public
	Inviter   keys.Public
	inviteEra uint64
	// inviteDevice is the device that recorded the invitation.
	inviteDevice keys.Public
}

// Device is a member device.
type Device struct {
	Cert keys.Cert
}

// JoinedGroup is a group recorded on the account group.
type JoinedGroup struct {
	GroupJoined
	Left bool
}

// State is the state of one group's metadata. Build it with New and Apply;
// it is not safe for concurrent use.
type State struct {
	group *group.Group

	ops     []*Op // sorted by opLess
	members map[keys.Public]*Member
	devices map[keys.Public]*Device
	name    string
	groups  map[keys.Public]*JoinedGroup
	contact map[keys.Public]*Contact
	seed    *[32]byte // the account's rendezvous seed (account group)
	// groupDevices: account device → group ID → the keys it recorded there,
	// oldest first (account group; at most MaxGroupKeys)
	groupDevices map[keys.Public]map[keys.Public][]keys.Public
	order        []keys.Public          // members in order of their first valid announce
	invites      map[keys.Public]invite // invitation key → its record
	// era counts the removals and revocations applied so far in a
	// multi-member group: an invitation admits only within the era it was
	// recorded in (§5.2), so every invitation dies with any removal.
	era uint64
	// approved holds approvals of devices that have not announced yet;
	// pending the valid announces of an existing member's devices that wait
	// for an approval; approvedBy the approval that let each device in
	// (§5.7).
	approved   map[approvalKey]approval
	pending    map[keys.Public]*Announce
	approvedBy map[keys.Public]approval
	// skip holds, during a rebuild, the cut-offs found by the previous pass:
	// ops past them do not count even where they sort before the removal.
	skip map[keys.Public]uint64
	// unsettled: the last rebuild stopped at maxPasses without reaching a
	// fixpoint. Its result is still a function of the set of ops only if
	// every later op rebuilds too, so the append fast path is off.
	unsettled bool
	// claims maps every device that announced itself (with valid
	// signatures) to the member it claims, whether or not the announce
	// counts: a removed member's device is cut off even if its announce
	// came after the removal and never made it a device (§5.3).
	claims map[keys.Public]keys.Public
	// cut is the current cut-offs: devices of removed members → last seq.
	cut map[keys.Public]uint64
	// checked caches CheckAnnounce per op ID (an op never changes).
	checked map[[32]byte]bool
	// approveJoins: an admin requires joins through a link to be admitted
	// (§5.5); awaiting holds those joins, by member key, in the order they
	// came (awaitOrder), and declined the members an admin turned down.
	approveJoins bool
	awaiting     map[keys.Public]*awaitingJoin
	awaitOrder   []keys.Public
	declined     map[keys.Public]bool
	// succession holds, in fold order, the key successions written by
	// devices that counted where they fall (§5.9); KeyChain keeps those
	// whose author is not revoked. seeds holds every account seed the
	// account group carried (type 19 and contact records), voided ones
	// too: a device must still sign with a key the group it is in knows.
	succession []succession
	seeds      map[keys.Public][32]byte
	verified   map[keys.Public]*ContactVerified // account group: by contact
}

type succession struct {
	author, member keys.Public
	seq            uint64
	record         keys.Succession
}

// awaitingJoin is a valid join through a link that waits for an admin.
type awaitingJoin struct {
	device   keys.Public
	announce *Announce
}

// New returns the empty state of g.
func New(g *group.Group) *State {
	s := &State{group: g, claims: map[keys.Public]keys.Public{}, cut: map[keys.Public]uint64{}, checked: map[[32]byte]bool{}}
	s.reset()
	return s
}

func (s *State) claim(op *Op) {
	if a := op.Event.Announce; a != nil && op.Seq == 1 && s.checkAnnounce(op) {
		s.claims[op.Author] = a.Cert.Member
	}
}

// checkAnnounce is CheckAnnounce for op's announce, computed once per op: a
// rebuild folds every announce again, and three signatures and a key check
// per announce per rebuild made a removal in a 1 000-member group cost
// seconds.
func (s *State) checkAnnounce(op *Op) bool {
	if ok, done := s.checked[op.ID]; done {
		return ok
	}
	ok := CheckAnnounce(s.group, op.Author, op.Event.Announce)
	s.checked[op.ID] = ok
	return ok
}

func (s *State) reset() {
	s.members = map[keys.Public]*Member{}
	s.devices = map[keys.Public]*Device{}
	s.name = ""
	s.groups = map[keys.Public]*JoinedGroup{}
	s.contact = map[keys.Public]*Contact{}
	s.seed = nil
	s.groupDevices = map[keys.Public]map[keys.Public][]keys.Public{}
	s.order = nil
	s.invites = map[keys.Public]invite{}
	s.era = 0
	s.approved = map[approvalKey]approval{}
	s.pending = map[keys.Public]*Announce{}
	s.approvedBy = map[keys.Public]approval{}
	s.approveJoins = false
	s.awaiting = map[keys.Public]*awaitingJoin{}
	s.awaitOrder = nil
	s.declined = map[keys.Public]bool{}
	s.succession = nil
	s.seeds = map[keys.Public][32]byte{}
	s.verified = map[keys.Public]*ContactVerified{}
}

// nextEra starts a new era (§5.2): every invitation recorded so far stops
// admitting, and the joins still waiting for an admin die with them.
func (s *State) nextEra() {
	s.era++
	clear(s.awaiting)
	s.awaitOrder = nil
}

// JoinsNeedApproval reports whether an admin requires joins through a link
// to be admitted (§5.5).
func (s *State) JoinsNeedApproval() bool { return s.approveJoins }

// AwaitingJoin is a member who joined through a link and waits for an
// admin's decision (§5.5).
type AwaitingJoin struct {
	Member    keys.Public
	Device    keys.Public
	Inviter   keys.Public // the member who made the link
	InviteKey keys.Public
}

// Awaiting returns the joins waiting for an admin, in the order they came.
func (s *State) Awaiting() []AwaitingJoin {
	var out []AwaitingJoin
	seen := map[keys.Public]bool{}
	for _, k := range s.awaitOrder {
		if w := s.awaiting[k]; w != nil && !seen[k] {
			seen[k] = true
			out = append(out, AwaitingJoin{Member: k, Device: w.device, Inviter: w.announce.Inviter, InviteKey: w.announce.InviteKey})
		}
	}
	return out
}

// Declined reports whether an admin turned this member's join down.
func (s *State) Declined(member keys.Public) bool { return s.declined[member] }

// invite is an invitation record as the fold applied it.
type invite struct {
	inviter keys.Public
	device  keys.Public // the device that recorded it
	era     uint64
	expires uint64
}

// Invite is an invitation that still admits (§5.5): recorded, not revoked,
// not killed by a removal.
type Invite struct {
	Key     keys.Public
	Inviter keys.Public // member
	Device  keys.Public // the device that recorded it
	Expires uint64      // unix seconds
}

// Invites returns the invitations that still admit, by key.
func (s *State) Invites() []Invite {
	var out []Invite
	for k, in := range s.invites {
		if in.era == s.era {
			out = append(out, Invite{Key: k, Inviter: in.inviter, Device: in.device, Expires: in.expires})
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key[:], out[j].Key[:]) < 0 })
	return out
}

// InvitationEnded reports whether the fold applied the record of this
// invitation key and a removal, leave or revocation has ended its era since
// (§5.2): the link admits no one any more. (A revoked link's record is
// gone: this cannot tell it from one never seen.)
func (s *State) InvitationEnded(key keys.Public) bool {
	in, ok := s.invites[key]
	return ok && in.era != s.era
}

// approvalKey names an approval waiting for its device's announce: per
// member, so that another member's approval of the same key cannot take the
// place of the right one.
type approvalKey struct{ device, member keys.Public }

// approval is an approval event as the fold applied it: for a device of
// member, written by device by at seq.
type approval struct {
	member keys.Public
	by     keys.Public
	seq    uint64
}

// keepApprovers raises the cut-offs in given (device → last valid seq) so
// that no device in author's chain of approvals is cut before the approval
// that let the next one in: a removal or revocation that cut its own
// author's approval would void itself, and the fold would not settle.
func (s *State) keepApprovers(author keys.Public, given map[keys.Public]uint64) {
	x := author
	for range 64 { // chains are short; the bound guards against cycles
		ap, ok := s.approvedBy[x]
		if !ok {
			return
		}
		if c := given[ap.by]; c < ap.seq {
			given[ap.by] = ap.seq
		}
		x = ap.by
	}
}

// Unsettled reports whether the last rebuild stopped at its bound without
// a fixpoint (see rebuild): honest histories never do.
func (s *State) Unsettled() bool { return s.unsettled }

// Ops returns the membership events applied so far, sorted. The slice is the
// state's; callers must not modify it.
func (s *State) Ops() []*Op { return s.ops }

// Apply adds op and reports whether the state had to be rebuilt because op
// sorts before an event already applied. Events that fail their checks are
// kept (a later event may make them valid on rebuild) but change nothing.
func (s *State) Apply(op *Op) (rebuilt bool) {
	i := sort.Search(len(s.ops), func(i int) bool { return opLess(op, s.ops[i]) })
	s.ops = append(s.ops, nil)
	copy(s.ops[i+1:], s.ops[i:])
	s.ops[i] = op
	s.claim(op)
	if i == len(s.ops)-1 && op.Event.Removed == nil && op.Event.Revoked == nil && !s.unsettled {
		s.apply(op)
		s.cut = s.cutoffs()
		return false
	}
	s.rebuild()
	return true
}

// ApplyBatch adds ops (any order) and rebuilds once: what a replica does
// with the history it could read only once an epoch arrived (§3.4).
func (s *State) ApplyBatch(ops []*Op) {
	if len(ops) == 0 {
		return
	}
	s.ops = append(s.ops, ops...)
	sort.Slice(s.ops, func(i, j int) bool { return opLess(s.ops[i], s.ops[j]) })
	for _, o := range ops {
		s.claim(o)
	}
	s.rebuild()
}

// Restore rebuilds the state from persisted ops (any order).
func (s *State) Restore(ops []*Op) {
	s.ops = append([]*Op(nil), ops...)
	sort.Slice(s.ops, func(i, j int) bool { return opLess(s.ops[i], s.ops[j]) })
	clear(s.claims)
	for _, o := range s.ops {
		s.claim(o)
	}
	s.rebuild()
}

// rebuild folds all ops again. An op past its device's final cut-off must not
// count even if it sorts before the removal (it was concurrent with it, §5.3),
// so the fold repeats, skipping ops past the previous pass's cut-offs, until a
// pass finds the cut-offs it started from. A pass can lift a cut-off (a
// removal whose author turns out to be cut off before it), so the iteration is
// not monotone; it settles in two or three passes. Should a pathological
// history not settle within maxPasses, the last pass stands: still a function
// of the set of ops (every later Apply rebuilds too), so replicas agree. Such
// a history needs a member whose authority comes from an op its own removal
// cuts (a grant concurrent with the removal), which honest devices never
// write: the property test's adversarial histories found one.
func (s *State) rebuild() {
	const maxPasses = 8
	s.skip, s.unsettled = nil, true
	for range maxPasses {
		s.reset()
		for _, o := range s.ops {
			s.apply(o)
		}
		s.cut = s.cutoffs()
		if mapsEqual(s.cut, s.skip) {
			s.unsettled = false
			break
		}
		s.skip = s.cut
	}
	s.skip = nil
}

func mapsEqual(a, b map[keys.Public]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (s *State) cutoffs() map[keys.Public]uint64 {
	out := map[keys.Public]uint64{}
	for d, member := range s.claims {
		if m := s.members[member]; m != nil {
			if c, ok := m.limit(d); ok {
				out[d] = c
			}
		}
	}
	return out
}

// limit returns the last seq of device d that counts for m, if one is set:
// for a removed member, the cut-off its remover listed — or, for a device
// it did not list, the device's revocation cut-off if it was revoked (what
// it wrote before was valid and stays so), else 0 (a device the remover
// never saw); for a revoked device, its revocation cut-off. When both a
// removal and a revocation name the device, the lower stands.
func (m *Member) limit(d keys.Public) (uint64, bool) {
	rc, revoked := m.Revoked[d]
	if !m.Removed {
		return rc, revoked
	}
	c, listed := m.Cutoffs[d]
	switch {
	case listed && revoked:
		return min(c, rc), true
	case revoked:
		return rc, true
	}
	return c, true
}

// Writable reports whether the device's entry at seq counts: the device has a
// valid announce (or seq is 1, the announce itself) and is not past a cut-off.
func (s *State) Writable(device keys.Public, seq uint64) bool {
	if lim, ok := s.Cutoff(device); ok && seq > lim {
		return false
	}
	_, ok := s.devices[device]
	return ok
}

// Claim returns the member that device's announce claims, if the device
// wrote an announce whose signatures hold, whether or not it counts.
func (s *State) Claim(device keys.Public) (keys.Public, bool) {
	m, ok := s.claims[device]
	return m, ok
}

// Claimed reports whether some device announced itself (with valid
// signatures) for member, whether or not that announce counts here yet.
func (s *State) Claimed(member keys.Public) bool {
	for _, m := range s.claims {
		if m == member {
			return true
		}
	}
	return false
}

// Cutoffs returns every device whose entries stop counting past a seq: the
// devices that claim a removed member, including ones whose announce came
// after the cut-off (they are nobody's device, yet must be refused). Fresh map.
func (s *State) Cutoffs() map[keys.Public]uint64 {
	out := make(map[keys.Public]uint64, len(s.cut))
	for d, c := range s.cut {
		out[d] = c
	}
	return out
}

// AnyCut reports whether some device is cut (removed, revoked, dropped).
func (s *State) AnyCut() bool { return len(s.cut) > 0 }

// Cutoff returns the last valid seq of a removed member's device.
func (s *State) Cutoff(device keys.Public) (uint64, bool) {
	c, ok := s.cut[device]
	return c, ok
}

// MemberOf returns the member of a device with a counting announce, or nil.
func (s *State) MemberOf(device keys.Public) *Member { return s.memberOf(device) }

func (s *State) memberOf(device keys.Public) *Member {
	d, ok := s.devices[device]
	if !ok {
		return nil
	}
	return s.members[d.Cert.Member]
}

// active returns the author's member if the author may write at op.Seq.
func (s *State) active(op *Op) *Member {
	m := s.memberOf(op.Author)
	if m == nil {
		return nil
	}
	if lim, ok := m.limit(op.Author); ok && op.Seq > lim {
		return nil
	}
	return m
}

func (s *State) apply(op *Op) {
	if lim, ok := s.skip[op.Author]; ok && op.Seq > lim {
		return
	}
	ev := op.Event
	if a := ev.Announce; a != nil {
		s.applyAnnounce(op, a)
		return
	}
	m := s.active(op)
	if m == nil {
		return
	}
	switch {
	case ev.Removed != nil:
		s.applyRemoved(op, m, ev.Removed)
	case ev.Revoked != nil:
		s.applyRevoked(op, m, ev.Revoked)
	case ev.Approved != nil:
		s.applyApproved(op, m, ev.Approved.Device)
	case ev.Profile != nil:
		m.Name = ev.Profile.Name
	case ev.Admin != nil:
		if t := s.members[ev.Admin.Member]; t != nil && m.Admin && !t.Removed && s.group.Kind == group.KindMulti {
			t.Admin = true
		}
	case ev.Info != nil:
		s.name = ev.Info.Name
	case ev.Policy != nil && m.Admin && s.group.Kind == group.KindMulti:
		if ev.Policy.Approve && !s.approveJoins {
			// Every link made before stops admitting, and the joins the
			// author did not see are dropped: an honest join names only
			// its link's record, so a late one through an old link
			// would sort before the setting and skip it (§5.5).
			s.nextEra()
			s.drop(m.Key, m.Key, ev.Policy.Keep, nil)
		}
		s.approveJoins = ev.Policy.Approve
	case ev.Decision != nil && m.Admin && s.group.Kind == group.KindMulti:
		s.applyDecision(ev.Decision)
	case ev.Invited != nil && s.group.Kind == group.KindMulti:
		if _, dup := s.invites[ev.Invited.InviteKey]; !dup {
			s.invites[ev.Invited.InviteKey] = invite{inviter: m.Key, device: op.Author, era: s.era, expires: ev.Invited.Expires}
		}
	case ev.Uninvited != nil && s.group.Kind == group.KindMulti:
		// The inviter (any of its devices) or an admin revokes a link; the
		// joins with it its author did not see are dropped.
		u := ev.Uninvited
		if in, ok := s.invites[u.InviteKey]; ok && (in.inviter == m.Key || m.Admin) {
			delete(s.invites, u.InviteKey)
			for k, w := range s.awaiting {
				if w.announce.InviteKey == u.InviteKey {
					delete(s.awaiting, k) // a revoked link admits no one, waiting or not
				}
			}
			if !u.Drop || !(op.Author == in.device || m.Admin) || in.era != s.era {
				// Only the device that made the link, or an admin, drops
				// the joins it did not see: any other device's view may be
				// stale.
				break
			}
			for _, k := range s.order {
				if j := s.members[k]; !j.Removed && j.InviteKey == u.InviteKey && j.inviteEra == s.era && !inRoster(u.Admitted, k) {
					s.dropMember(j)
				}
			}
		}
	case ev.Joined != nil && s.group.Kind == group.KindAccount:
		j := *ev.Joined
		s.groups[j.ID] = &JoinedGroup{GroupJoined: j}
	case ev.Left != nil && s.group.Kind == group.KindAccount:
		if j := s.groups[ev.Left.ID]; j != nil {
			j.Left = true
		}
	case ev.Contact != nil && s.group.Kind == group.KindAccount:
		c := *ev.Contact
		s.contact[c.Account] = &c
		if c.OwnSeed != ([32]byte{}) {
			s.seeds[c.Own] = c.OwnSeed // the key its contact group derives from
		}
	case ev.Seed != nil && s.group.Kind == group.KindAccount:
		seed := ev.Seed.Seed
		s.seed = &seed
	case ev.Verified != nil && s.group.Kind == group.KindAccount:
		v := *ev.Verified
		if v.Theirs == (keys.Public{}) {
			delete(s.verified, v.Account)
		} else {
			s.verified[v.Account] = &v
		}
	case ev.Succeeded != nil && (s.group.Kind == group.KindContact) == (ev.Succeeded.Seed == nil) && s.group.Kind != group.KindMulti:
		// Type 19 on the account group, type 20 on contact groups. Which
		// record wins is KeyChain's: it depends on revocations that may
		// come later in the fold.
		s.succession = append(s.succession, succession{author: op.Author, member: m.Key, seq: op.Seq, record: ev.Succeeded.Record})
		if seed := ev.Succeeded.Seed; seed != nil {
			s.seeds[ev.Succeeded.Record.New] = *seed
		}
	case ev.Device != nil && s.group.Kind == group.KindAccount:
		g := s.groupDevices[op.Author]
		if g == nil {
			g = map[keys.Public][]keys.Public{}
			s.groupDevices[op.Author] = g
		}
		// Every key a device ever recorded stays its own: a revocation
		// must find a key it recorded and then replaced with a decoy.
		if ks := g[ev.Device.Group]; !slices.Contains(ks, ev.Device.Device) && len(ks) < MaxGroupKeys {
			g[ev.Device.Group] = append(ks, ev.Device.Device)
		}
	}
}

// CheckAnnounce verifies an announce's signatures for the device that wrote
// it (§5.2). Whether an inviter is a member is a state question (Apply).
func CheckAnnounce(g *group.Group, author keys.Public, a *Announce) bool {
	c := &a.Cert
	if c.Device != author || c.Verify(g.ID) != nil {
		return false
	}
	switch a.Proof {
	case ProofOwner:
		return g.Kind != group.KindMulti && g.IsOwner(c.Member)
	case ProofGenesis:
		return g.Kind == group.KindMulti && g.ID.Verify(GenesisSigned(g.ID, c.Member), a.GenesisSig[:])
	case ProofInvitation:
		return g.Kind == group.KindMulti &&
			a.Inviter.Verify(InvitationSigned(g.ID, a.InviteKey, a.Expires), a.InviterSig[:]) &&
			a.InviteKey.Verify(JoinSigned(g.ID, c.Member), a.JoinSig[:])
	case ProofMember:
		// The certificate's signature is the proof; Apply checks that the
		// member is current.
		return g.Kind == group.KindMulti
	}
	return false
}

func (s *State) applyAnnounce(op *Op, a *Announce) {
	if op.Seq != 1 || !s.checkAnnounce(op) {
		return
	}
	key := a.Cert.Member
	m := s.members[key]
	if (m != nil && m.Removed) || s.declined[key] {
		return // removal, and an admin's refusal, are final for a member key
	}
	if a.Proof == ProofMember && m == nil {
		return
	}
	if a.Proof == ProofInvitation {
		inv := s.members[a.Inviter]
		rec, ok := s.invites[a.InviteKey]
		if inv == nil || inv.Removed || !ok || rec.inviter != a.Inviter || rec.era != s.era || rec.expires != a.Expires {
			return
		}
	}
	if m != nil {
		// Not the member's first device: it needs the approval of one of
		// the member's current devices, before or after (§5.7).
		if _, revoked := m.Revoked[op.Author]; revoked {
			return
		}
		ap, ok := s.approved[approvalKey{op.Author, key}]
		if !ok {
			s.pending[op.Author] = a
			return
		}
		delete(s.approved, approvalKey{op.Author, key})
		s.approvedBy[op.Author] = ap
	} else {
		if a.Proof == ProofInvitation && s.approveJoins {
			// An admin lets the member in, or not (§5.5). One device per
			// member waits; a member's other devices follow once it is in.
			if _, dup := s.awaiting[key]; !dup && len(s.awaiting) < MaxRoster {
				s.awaiting[key] = &awaitingJoin{device: op.Author, announce: a}
				s.awaitOrder = append(s.awaitOrder, key)
			}
			return
		}
		if m = s.addMember(key, a); m == nil {
			return
		}
		delete(s.awaiting, key) // in another way (another device, the policy off): it waits no more
	}
	if a.Proof == ProofGenesis {
		m.Admin = true
	}
	m.Devices = append(m.Devices, op.Author)
	s.devices[op.Author] = &Device{Cert: a.Cert}
}

// addMember adds a new member with the announce of its first device, or
// returns nil if the group is full: a removal could no longer list
// everyone (§5.3).
func (s *State) addMember(key keys.Public, a *Announce) *Member {
	if len(s.order) >= MaxRoster && s.currentMembers() >= MaxRoster {
		return nil
	}
	m := &Member{Key: key}
	if a.Proof == ProofInvitation {
		m.InviteKey, m.Inviter, m.inviteEra = a.InviteKey, a.Inviter, s.era
		m.inviteDevice = s.invites[a.InviteKey].device
	}
	s.members[key] = m
	s.order = append(s.order, key)
	return m
}

// applyDecision applies an admin's answer to a waiting join (§5.5). The
// join must still be valid where the decision falls: its link not revoked,
// no removal or revocation since (they clear the waiting joins).
func (s *State) applyDecision(d *JoinDecision) {
	w := s.awaiting[d.Member]
	if w == nil {
		return
	}
	delete(s.awaiting, d.Member)
	if s.members[d.Member] != nil {
		return // in (or removed) already: a member key is one member
	}
	if !d.Admit {
		s.declined[d.Member] = true
		return
	}
	if rec, ok := s.invites[w.announce.InviteKey]; !ok || rec.era != s.era {
		return
	}
	inv := s.members[w.announce.Inviter]
	if inv == nil || inv.Removed {
		return
	}
	m := s.addMember(d.Member, w.announce)
	if m == nil {
		return
	}
	m.Devices = append(m.Devices, w.device)
	s.devices[w.device] = &Device{Cert: w.announce.Cert}
}

// applyApproved lets a device of the author's member in (§5.7).
func (s *State) applyApproved(op *Op, author *Member, d keys.Public) {
	if _, ok := s.devices[d]; ok {
		return
	}
	if _, revoked := author.Revoked[d]; revoked {
		return
	}
	ap := approval{member: author.Key, by: op.Author, seq: op.Seq}
	if a := s.pending[d]; a != nil {
		if a.Cert.Member != author.Key {
			return
		}
		delete(s.pending, d)
		author.Devices = append(author.Devices, d)
		s.devices[d] = &Device{Cert: a.Cert}
		s.approvedBy[d] = ap
		return
	}
	if _, ok := s.approved[approvalKey{d, author.Key}]; !ok {
		s.approved[approvalKey{d, author.Key}] = ap
	}
}

// Approved reports whether a device that has not announced itself yet has
// an approval by one of member's devices waiting for it.
func (s *State) Approved(d, member keys.Public) bool {
	_, ok := s.approved[approvalKey{d, member}]
	return ok
}

// Awaited reports whether a device that has not announced itself yet has
// an approval waiting for it that still holds: its member is current and
// the device that approved it was not cut before the approval.
func (s *State) Awaited(d keys.Public) bool {
	for k, ap := range s.approved {
		if k.device != d {
			continue
		}
		if m := s.members[k.member]; m != nil && !m.Removed && s.Writable(ap.by, ap.seq) {
			if _, revoked := m.Revoked[d]; !revoked {
				return true
			}
		}
	}
	return false
}

// Expected returns the devices of member that have an approval waiting for
// their announce that still holds (see Awaited), each with the device that
// approved it.
func (s *State) Expected(member keys.Public) map[keys.Public]keys.Public {
	out := map[keys.Public]keys.Public{}
	m := s.members[member]
	if m == nil || m.Removed {
		return out
	}
	for k, ap := range s.approved {
		if _, revoked := m.Revoked[k.device]; k.member == member && !revoked && s.Writable(ap.by, ap.seq) {
			out[k.device] = ap.by
		}
	}
	return out
}

// Pending reports whether a device announced itself for an existing member
// and waits for one of the member's devices to approve it.
func (s *State) Pending(d keys.Public) bool { return s.pending[d] != nil }

// applyRevoked applies a device revocation: by another device of the same
// member, of a device that is (or was, for a second revocation that can only
// lower the cut-off) one of its devices.
func (s *State) applyRevoked(op *Op, author *Member, r *DeviceRevoked) {
	if r.Device == op.Author || s.memberOf(r.Device) != author {
		return
	}
	keep := map[keys.Public]uint64{r.Device: r.Seq}
	s.keepApprovers(op.Author, keep) // a revocation cannot cut what let its author in
	r = &DeviceRevoked{Device: r.Device, Seq: keep[r.Device], Keep: r.Keep}
	if c, ok := author.Revoked[r.Device]; ok {
		author.Revoked[r.Device] = min(c, r.Seq)
		return
	}
	i := slices.Index(author.Devices, r.Device)
	if i < 0 {
		return
	}
	author.Devices = slices.Delete(author.Devices, i, i+1)
	if author.Revoked == nil {
		author.Revoked = map[keys.Public]uint64{}
	}
	author.Revoked[r.Device] = r.Seq
	if s.group.Kind == group.KindMulti {
		s.nextEra()
		if author.Admin {
			s.drop(author.Key, author.Key, r.Keep, nil)
		} else {
			// A member revoking its own device gets no power over other
			// members: its roster drops only the joins through links the
			// revoked device made — how a stolen device's holder would
			// come back, with a fresh account (§5.3).
			s.drop(author.Key, author.Key, r.Keep, &r.Device)
		}
	}
}

// drop removes the current members that a removal or revocation by author
// (of target) leaves out of its roster keep (§5.3): they joined
// concurrently, unseen by the author — the way a removed member would come
// back, through an invitation she held, with an announce that sorts before
// her removal. Their announces stay (cut-off 1), so that every pass of the
// fold drops them again; nothing after counts.
//
// A roster that leaves out a member its author's own membership rests on —
// the member who invited the author, who invited that one, and so on — is
// a lie (the author saw them) that would void the author's own event when
// the fold drops them, and keep the fold from settling: it drops no one.
// With linksOf set, only members who joined through an invitation that
// device recorded can be dropped.
func (s *State) drop(author, target keys.Public, keep []keys.Public, linksOf *keys.Public) {
	x := s.members[author].Inviter
	for range 64 {
		m, ok := s.members[x]
		if !ok {
			break
		}
		if !m.Removed && x != target && !inRoster(keep, x) {
			return
		}
		x = m.Inviter
	}
	for _, k := range s.order {
		m := s.members[k]
		if m.Removed || k == author || k == target {
			continue
		}
		if inRoster(keep, k) || (linksOf != nil && (m.InviteKey == keys.Public{} || m.inviteDevice != *linksOf)) {
			continue
		}
		s.dropMember(m)
	}
}

// currentMembers counts the members not removed.
func (s *State) currentMembers() int {
	n := 0
	for _, k := range s.order {
		if !s.members[k].Removed {
			n++
		}
	}
	return n
}

func inRoster(keep []keys.Public, k keys.Public) bool {
	_, found := slices.BinarySearchFunc(keep, k, func(a, b keys.Public) int { return bytes.Compare(a[:], b[:]) })
	return found
}

// dropMember removes m as a dropped member: its announces stay (cut-off 1),
// so that every pass of the fold drops it again; nothing after counts.
func (s *State) dropMember(m *Member) {
	m.Removed, m.Admin, m.Dropped = true, false, true
	m.Cutoffs = map[keys.Public]uint64{}
	for _, d := range m.Devices {
		m.Cutoffs[d] = 1
	}
}

func (s *State) applyRemoved(op *Op, author *Member, r *MemberRemoved) {
	t := s.members[r.Member]
	if t == nil || s.group.Kind != group.KindMulti {
		return
	}
	if !author.Admin && author.Key != r.Member {
		return
	}
	given := map[keys.Public]uint64{}
	for _, c := range r.Cutoffs {
		given[c.Device] = c.Seq
	}
	if author.Key == r.Member {
		// Leaving: the removal entry itself must count, or the next pass
		// of the fold would skip it and undo the leave; so must the
		// approvals that let the leaving device in.
		given[op.Author] = max(given[op.Author], op.Seq)
		s.keepApprovers(op.Author, given)
	}
	s.nextEra()
	if author.Key != r.Member {
		// A member leaving gives up its own rights only: it drops no one,
		// even if it was behind.
		s.drop(author.Key, r.Member, r.Keep, nil)
	}
	if !t.Removed {
		t.Removed, t.Admin = true, false
		t.Cutoffs = given
		return
	}
	// A second removal of the same member can only lower cut-offs; a device
	// it does not list gets 0.
	for d, c := range t.Cutoffs {
		t.Cutoffs[d] = min(c, given[d])
	}
}

// Members returns the members in the order they joined, removed ones included.
func (s *State) Members() []*Member {
	out := make([]*Member, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.members[k])
	}
	return out
}

// Member returns a member by key, or nil.
func (s *State) Member(k keys.Public) *Member { return s.members[k] }

// Device returns a device's certificate, or nil if it has no valid announce.
func (s *State) Device(k keys.Public) *Device { return s.devices[k] }

// ActiveDevices returns the devices of members that are not removed, in the
// members' join order.
func (s *State) ActiveDevices() []keys.Public {
	var out []keys.Public
	for _, k := range s.order {
		if m := s.members[k]; !m.Removed {
			out = append(out, m.Devices...)
		}
	}
	return out
}

// Name returns the group's display name.
func (s *State) Name() string { return s.name }

// Groups returns the groups recorded on an account group, by ID.
func (s *State) Groups() map[keys.Public]*JoinedGroup { return s.groups }

// Contacts returns the contacts recorded on an account group, by account key.
func (s *State) Contacts() map[keys.Public]*Contact { return s.contact }

// GroupDevice returns the key that device of the account recorded last for
// itself in the multi-member group with this ID (account group, §5.4).
func (s *State) GroupDevice(device, groupID keys.Public) (keys.Public, bool) {
	ks := s.groupDevices[device][groupID]
	if len(ks) == 0 {
		return keys.Public{}, false
	}
	return ks[len(ks)-1], true
}

// GroupDevices returns every key that device of the account recorded for
// itself in the multi-member group with this ID, oldest first: one per
// membership (§3.2) for an honest device; a revocation covers them all.
func (s *State) GroupDevices(device, groupID keys.Public) []keys.Public {
	return s.groupDevices[device][groupID]
}

// LetInBy reports whether one of the devices in by approved d, or approved
// the device that approved d, and so on (§5.7): how a revocation finds the
// devices a compromised device let in (§5.6). The chain has no bound on
// its length — a chain of helpers is as long as its maker wants — and a
// seen set guards against cycles.
func (s *State) LetInBy(d keys.Public, by map[keys.Public]bool) bool {
	seen := map[keys.Public]bool{d: true}
	for y := d; ; {
		ap, ok := s.approvedBy[y]
		if !ok || seen[ap.by] {
			return false
		}
		if by[ap.by] {
			return true
		}
		seen[ap.by] = true
		y = ap.by
	}
}

// KeyChain returns the successions of member's key that count (§5.9), in
// fold order: each written by a device of the member that counted where it
// falls and that is not revoked since, each moving on from the key the one
// before moved to (the member key at first). Of two records from one key —
// two devices that rotated at once, or a stolen device that raced its
// owner — the first in fold order wins; a revocation voids every record its
// target wrote, so a device that rotated the account before it was found
// out hands on nothing.
func (s *State) KeyChain(member keys.Public) []keys.Succession {
	var out []keys.Succession
	for _, x := range s.chain(member) {
		out = append(out, x.record)
	}
	return out
}

func (s *State) chain(member keys.Public) []succession {
	m := s.members[member]
	if m == nil {
		return nil
	}
	var out []succession
	cur := member
	for _, x := range s.succession {
		if _, revoked := m.Revoked[x.author]; x.member != member || revoked || x.record.Old != cur {
			continue
		}
		out = append(out, x)
		cur = x.record.New
	}
	return out
}

// CurrentKeyEntry returns the author device and seq of the event that gave
// member its current key; ok is false while the member key is current.
func (s *State) CurrentKeyEntry(member keys.Public) (author keys.Public, seq uint64, ok bool) {
	c := s.chain(member)
	if len(c) == 0 {
		return author, 0, false
	}
	return c[len(c)-1].author, c[len(c)-1].seq, true
}

// NamedKeys returns every key a device of member named as the member's
// next key, whether or not its record counts (a revoked device's, one that
// lost a race): a key that was the member's for a while, or that a stolen
// device tried to make so, is one its contacts must not take for the
// member's now.
//
// Only keys reachable from the member key through records of its devices
// count: a record's signatures hold anywhere, so a member can copy another
// account's record into its own history, and must not make that account's
// key look replaced (a review found it).
func (s *State) NamedKeys(member keys.Public) []keys.Public {
	reach := map[keys.Public]bool{member: true}
	var out []keys.Public
	for grew := true; grew; {
		grew = false
		for _, x := range s.succession {
			if x.member == member && reach[x.record.Old] && !reach[x.record.New] {
				reach[x.record.New] = true
				out = append(out, x.record.New)
				grew = true
			}
		}
	}
	return out
}

// CurrentKey returns the key member moved to last (KeyChain), or member.
func (s *State) CurrentKey(member keys.Public) keys.Public {
	if c := s.KeyChain(member); len(c) > 0 {
		return c[len(c)-1].New
	}
	return member
}

// Verification returns the last safety-number check the account recorded
// for a contact (§11.8), if any.
func (s *State) Verification(account keys.Public) (ContactVerified, bool) {
	v, ok := s.verified[account]
	if !ok {
		return ContactVerified{}, false
	}
	return *v, true
}

// AccountSeeds returns the account seeds the account group carried, by
// public key: of type 19 records (voided ones included) and of the keys
// contact records name (§3.3.2). Fresh map.
func (s *State) AccountSeeds() map[keys.Public][32]byte { return maps.Clone(s.seeds) }

// AccountSeed returns the seed AccountSeeds holds for pub, if any.
func (s *State) AccountSeed(pub keys.Public) ([32]byte, bool) {
	seed, ok := s.seeds[pub]
	return seed, ok
}

// RendezvousSeed returns the account's contact-link seed, if one was set.
func (s *State) RendezvousSeed() ([32]byte, bool) {
	if s.seed == nil {
		return [32]byte{}, false
	}
	return *s.seed, true
}
