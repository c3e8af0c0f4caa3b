package replica

import (
	"errors"
	"fmt"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// appendLocal signs and appends this device's next entry. payload receives
// the entry's seq so that it can bind to it.
func (r *Replica) appendLocal(kind feed.Kind, minLamport uint64, extraDeps []feed.Dep, payload func(seq uint64) ([]byte, error)) (*feed.Entry, error) {
	self := r.device.Public()
	seq, prev, lamport, deps := r.tracker.NextLocal(self)
	lamport = max(lamport, minLamport)
	deps = mergeDeps(deps, extraDeps)
	p, err := payload(seq)
	if err != nil {
		return nil, err
	}
	// Unsigned for now: Ready signs the last entry of each batch, which
	// authenticates the others through the hash chain (§4.5).
	e, err := feed.Build(&feed.Unsigned{
		Topic: r.g.Keys.Topic, Seq: seq, Prev: prev, Lamport: lamport, Deps: deps, Kind: kind, Payload: p,
	}, &r.g.Keys.Replication, r.device.Public())
	if err != nil {
		return nil, fmt.Errorf("build entry: %w", err)
	}
	r.tracker.Append(e)
	r.tracker.ClearChanged()
	r.rd.Entries = append(r.rd.Entries, e)
	r.rd.Outbox = append(r.rd.Outbox, e)
	r.dirty = true
	return e, nil
}

func mergeDeps(a, b []feed.Dep) []feed.Dep {
	if len(b) == 0 {
		return a
	}
	m := map[keys.Public]uint64{}
	for _, d := range append(append([]feed.Dep(nil), a...), b...) {
		m[d.Device] = max(m[d.Device], d.Seq)
	}
	out := make([]feed.Dep, 0, len(m))
	for d, s := range m {
		out = append(out, feed.Dep{Device: d, Seq: s})
	}
	sortDeps(out)
	return out
}

// postMetadata seals ev, appends it and applies it to the local state.
func (r *Replica) postMetadata(ev *state.Event, minLamport uint64, deps []feed.Dep) (*feed.Entry, error) {
	enc := ev.Encode()
	self := r.device.Public()
	ep, err := r.writeEpoch(ev)
	if err != nil {
		return nil, err
	}
	e, err := r.appendLocal(feed.KindMetadata, minLamport, deps, func(seq uint64) ([]byte, error) {
		return seal.Seal(append([]byte(nil), ep.ID[:]...), &ep.Metadata, enc, metadataAD(&r.g.Keys.Topic, self, seq), r.cfg.Rand)
	})
	if err != nil {
		return nil, err
	}
	if ev.Keys == nil && ev.Update == nil {
		r.applyState(&state.Op{Author: self, Seq: e.Seq, Lamport: e.Lamport, ID: e.ID, Event: ev})
	}
	return e, nil
}

// AnnounceOwner writes this device's announce in an account or contact
// group, whose owners need no invitation (§5.2).
func (r *Replica) AnnounceOwner(lk feed.Lookup) error {
	return r.announce(&state.Announce{Proof: state.ProofOwner}, 0, nil, lk)
}

// AnnounceGenesis writes the creator's announce in a new multi-member group,
// signed by the group key.
func (r *Replica) AnnounceGenesis(lk feed.Lookup) error {
	if r.g.IDSeed == nil {
		return fmt.Errorf("genesis needs the group key: only the creator has it")
	}
	a := &state.Announce{Proof: state.ProofGenesis}
	copy(a.GenesisSig[:], keys.FromSeed(*r.g.IDSeed).Sign(state.GenesisSigned(r.g.ID, r.member.Public())))
	return r.announce(a, 0, nil, lk)
}

func (r *Replica) announce(a *state.Announce, minLamport uint64, deps []feed.Dep, lk feed.Lookup) error {
	if r.Joined() {
		return nil
	}
	// The certificate carries the X25519 half of the device's first
	// key-agreement key, drawn at random (§6.4): a key derived from the
	// device seed could never be deleted. The whole (hybrid) key follows in
	// a key update in the same batch: boxes are sealed only to those.
	own := r.own
	priv, err := r.drawKey()
	if err != nil {
		return err
	}
	a.Cert = keys.NewCert(r.g.ID, r.member, r.device, priv.X.PublicKey())
	if !state.CheckAnnounce(r.g, r.device.Public(), a) {
		r.own = own
		return ErrNotMember
	}
	if _, err := r.postMetadata(&state.Event{Announce: a}, minLamport, deps); err != nil {
		return err
	}
	r.agreeDue = true
	if err := r.updateKey(); err != nil {
		return err
	}
	return r.maintain(lk)
}

// Send encrypts body as this device's next message (§6.2) and returns it as
// it will be stored. The ratchet advances; the Ready carries its new state.
func (r *Replica) Send(body []byte, lk feed.Lookup) (*Message, error) {
	self := r.device.Public()
	if !r.Joined() {
		return nil, ErrNotJoined
	}
	if r.state.Pending(self) {
		return nil, ErrNotApproved
	}
	if r.state.Device(self) == nil {
		// Announced, not counted here yet: no member has handed this
		// device the epochs that would show it in (§5.2), or (a rejoin,
		// §3.2) it holds only those of its earlier membership.
		return nil, ErrWaitingForKeys
	}
	if r.state.Device(self) == nil || !r.state.Writable(self, r.tracker.Head(self).Seq+1) {
		return nil, ErrNotMember
	}
	if len(body) > feed.MaxPayload-ratchet.SealedHeaderSize-seal.Overhead {
		return nil, fmt.Errorf("message of %d bytes: %w", len(body), feed.ErrTooLarge)
	}
	if err := r.leaveEpochZero(); err != nil {
		return nil, err
	}
	if err := r.maintain(lk); err != nil {
		return nil, err
	}
	e, err := r.appendLocal(feed.KindMessage, 0, nil, func(seq uint64) ([]byte, error) {
		return ratchet.SealMessage(r.send, &r.g.Keys.Header, r.binding(self, seq), body, r.cfg.Rand)
	})
	if err != nil {
		return nil, err
	}
	m := Message{Author: self, Member: r.member.Public(), Seq: e.Seq, Lamport: e.Lamport, ID: e.ID, Own: true,
		Body: append([]byte(nil), body...)}
	r.rd.Messages = append(r.rd.Messages, m)
	if r.send.Sent >= r.cfg.RotateEvery {
		r.rotate = true
	}
	return &m, nil
}

// Remove removes a member (§5.3): an admin may remove anyone, and any member
// itself (leaving). The member's entries this device has not seen are
// refused everywhere; this device starts a new chain that the removed member
// does not get.
func (r *Replica) Remove(member keys.Public, lk feed.Lookup) error {
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed || !r.Joined() {
		return ErrNotMember
	}
	t := r.state.Member(member)
	if t == nil || t.Removed {
		return ErrNoSuchUser
	}
	if !me.Admin && member != me.Key {
		return ErrNotAdmin
	}
	rm := &state.MemberRemoved{Member: member, Keep: r.roster()}
	if len(rm.Keep) > state.MaxRoster {
		return fmt.Errorf("remove: %d members, a removal can list %d", len(rm.Keep), state.MaxRoster)
	}
	var deps []feed.Dep
	for _, d := range t.Devices {
		seq := r.tracker.Head(d).Seq
		rm.Cutoffs = append(rm.Cutoffs, state.Cutoff{Device: d, Seq: seq})
		if seq > 0 && d != r.device.Public() {
			// Every replica must hold what the removal keeps before it
			// applies the removal (§5.3), or a kept message could arrive
			// after its sender's chain is gone.
			deps = append(deps, feed.Dep{Device: d, Seq: seq})
		}
	}
	for _, d := range sortedKeys(t.Revoked) {
		// A revoked device keeps what it wrote up to its revocation's
		// cut-off (§5.6); a device the removal does not name is cut at 0.
		seq := t.Revoked[d]
		rm.Cutoffs = append(rm.Cutoffs, state.Cutoff{Device: d, Seq: seq})
		if dep := min(seq, r.tracker.Head(d).Seq); dep > 0 && d != r.device.Public() {
			deps = append(deps, feed.Dep{Device: d, Seq: dep})
		}
	}
	sortDeps(deps)
	if _, err := r.postMetadata(&state.Event{Removed: rm}, 0, deps); err != nil {
		return err
	}
	r.applyCutoffs(lk)
	return r.rekeyNow(lk)
}

// leaveEpochZero makes a new epoch before this device writes if it holds no
// current one but the group has cut devices: concurrent removals (each
// remover's new epoch went to the member the other removed) leave every
// epoch tainted, and a device without a current epoch publishes on epoch
// 0's network (§3.4, §10), where the removed members still listen.
func (r *Replica) leaveEpochZero() error {
	if !r.state.AnyCut() || r.current() != nil {
		return nil
	}
	if me := r.state.Member(r.member.Public()); me == nil || me.Removed {
		return nil
	}
	_, err := r.rekey()
	return err
}

// rekeyNow follows this device's removal or revocation: unless this device
// is the one leaving, it creates the epoch that the removed or revoked
// devices do not hold, and maintain hands it to every other device with
// the new chains (§3.4). The group's other devices then write in it.
func (r *Replica) rekeyNow(lk feed.Lookup) error {
	if me := r.state.Member(r.member.Public()); me != nil && !me.Removed && r.current() == nil {
		if _, err := r.rekey(); err != nil {
			return err
		}
	}
	return r.maintain(lk)
}

// roster returns the members this replica counts, for a removal or a
// revocation (§5.3): in a multi-member group, a member the fold counts where
// the event falls but the roster leaves out is dropped.
func (r *Replica) roster() []keys.Public {
	if r.g.Kind != group.KindMulti {
		return nil
	}
	var keep []keys.Public
	for _, m := range r.state.Members() {
		if !m.Removed {
			keep = append(keep, m.Key)
		}
	}
	return state.SortRoster(keep)
}

// RevokeDevice revokes another device of this device's own member (§5.6):
// its entries past its current head stop counting and every device starts
// a new chain sealed only to the devices that remain.
func (r *Replica) RevokeDevice(device keys.Public, lk feed.Lookup) error {
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed || !r.Joined() || !slices.Contains(me.Devices, r.device.Public()) {
		return ErrNotMember // a revoked device, too: its revocations would not count
	}
	if device == r.device.Public() {
		return ErrRevokeSelf
	}
	if !slices.Contains(me.Devices, device) {
		return ErrNoSuchDevice
	}
	seq := r.tracker.Head(device).Seq
	var deps []feed.Dep
	if seq > 0 {
		// As for a removal: every replica holds what the revocation keeps
		// before it applies the revocation.
		deps = []feed.Dep{{Device: device, Seq: seq}}
	}
	keep := r.roster()
	if len(keep) > state.MaxRoster {
		return fmt.Errorf("revoke: %d members, a revocation can list %d", len(keep), state.MaxRoster)
	}
	if _, err := r.postMetadata(&state.Event{Revoked: &state.DeviceRevoked{Device: device, Seq: seq, Keep: keep}}, 0, deps); err != nil {
		return err
	}
	r.applyCutoffs(lk)
	return r.rekeyNow(lk)
}

// ApproveDevice lets another device of this device's member into the group
// (§5.7): one that announced itself and waits, or one that will. Approving
// a device already in, or already approved, does nothing; approving a
// revoked device returns ErrRevokedDevice.
func (r *Replica) ApproveDevice(device keys.Public, lk feed.Lookup) error {
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed || !r.Joined() || !slices.Contains(me.Devices, r.device.Public()) {
		return ErrNotMember
	}
	if _, revoked := me.Revoked[device]; revoked {
		// Checked first: a revoked device still has its announce.
		return fmt.Errorf("approve %v: %w", device, ErrRevokedDevice)
	}
	if r.state.Device(device) != nil || r.state.Approved(device, r.member.Public()) {
		return nil
	}
	if _, err := r.postMetadata(&state.Event{Approved: &state.DeviceApproved{Device: device}}, 0, nil); err != nil {
		return err
	}
	return r.maintain(lk)
}

// GrantAdmin makes a member an admin; only admins may.
func (r *Replica) GrantAdmin(member keys.Public, lk feed.Lookup) error {
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed {
		return ErrNotMember
	}
	if !me.Admin {
		return ErrNotAdmin
	}
	if t := r.state.Member(member); t == nil || t.Removed {
		return ErrNoSuchUser
	}
	_, err := r.postMetadata(&state.Event{Admin: &state.AdminGranted{Member: member}}, 0, nil)
	return err
}

// SetJoinApproval makes joins through a link wait for an admin to admit
// them, or (off) count at once (§5.5). Admins only. Turning it on ends
// every link made before: share new ones.
func (r *Replica) SetJoinApproval(on bool, lk feed.Lookup) error {
	if err := r.checkAdmin(); err != nil {
		return err
	}
	if r.state.JoinsNeedApproval() == on {
		return nil
	}
	p := &state.JoinPolicy{Approve: on}
	if on {
		p.Keep = r.roster()
	}
	if _, err := r.postMetadata(&state.Event{Policy: p}, 0, nil); err != nil {
		return err
	}
	return r.maintain(lk)
}

// DecideJoin admits a member whose join waits for an admin, or declines it
// for good (§5.5). Admitting hands the member the group's keys at once.
func (r *Replica) DecideJoin(member keys.Public, admit bool, lk feed.Lookup) error {
	if err := r.checkAdmin(); err != nil {
		return err
	}
	if !slices.ContainsFunc(r.state.Awaiting(), func(w state.AwaitingJoin) bool { return w.Member == member }) {
		return ErrNotAwaiting
	}
	if _, err := r.postMetadata(&state.Event{Decision: &state.JoinDecision{Member: member, Admit: admit}}, 0, nil); err != nil {
		return err
	}
	return r.maintain(lk)
}

// checkAdmin returns an error unless this device's member is a current
// admin of a multi-member group.
func (r *Replica) checkAdmin() error {
	if r.g.Kind != group.KindMulti {
		return ErrNotMultiMember
	}
	me := r.state.Member(r.member.Public())
	if me == nil || me.Removed || r.state.Device(r.device.Public()) == nil {
		return ErrNotMember
	}
	if !me.Admin {
		return ErrNotAdmin
	}
	return nil
}

// ErrNotCurrentKey is returned for a key succession that does not move on
// from the member's current key in the group: it would not count (§5.9).
var ErrNotCurrentKey = errors.New("the succession does not start from the member's current key here")

// Post writes a metadata event that needs no special checks: group info, and
// on the account group joined/left groups, contacts and the link seed; the
// member's profile anywhere; a contact's verification on the account group
// (§11.8); a key succession (§5.9) where it counts: with
// the new seed on the account group, without it in a contact group.
func (r *Replica) Post(ev *state.Event, lk feed.Lookup) error {
	if ev.Info == nil && ev.Joined == nil && ev.Left == nil && ev.Contact == nil && ev.Seed == nil && ev.Profile == nil && ev.Device == nil && ev.Succeeded == nil && ev.Verified == nil {
		return fmt.Errorf("post: use the dedicated command for a %d event", ev.Type())
	}
	if r.state.Device(r.device.Public()) == nil {
		return ErrNotJoined
	}
	if s := ev.Succeeded; s != nil {
		if r.g.Kind == group.KindMulti || (r.g.Kind == group.KindAccount) != (s.Seed != nil) {
			return fmt.Errorf("post: a type %d succession in a group of kind %d", ev.Type(), r.g.Kind)
		}
		if cur := r.state.CurrentKey(r.member.Public()); s.Record.Old != cur {
			return fmt.Errorf("%w (it starts from %v, the key here is %v)", ErrNotCurrentKey, s.Record.Old, cur)
		}
	}
	if _, err := r.postMetadata(ev, 0, nil); err != nil {
		return err
	}
	return r.maintain(lk)
}

// maintain makes sure this device has a current chain and that every active
// device of the group holds it (§6.3): after a removal, past RotateEvery
// messages or RotateAfter seconds it starts a new epoch first.
func (r *Replica) maintain(lk feed.Lookup) error {
	self := r.device.Public()
	if r.Joined() {
		// Before the checks below: a device that does not count yet (a
		// joiner waiting for its epochs) must publish its key, or no one
		// could seal them to it (§6.4).
		if c, cut := r.state.Cutoff(self); !cut || r.tracker.Head(self).Seq < c {
			if err := r.updateKey(); err != nil {
				return err
			}
		}
	}
	if r.send != nil && !r.rotate && r.state.Pending(self) {
		// This device counted in its own view until a sibling's announce
		// that sorts first turned up (concurrent first devices, §5.7), and
		// handed its chain out meanwhile: devices that saw it wait did not
		// take it, and will not be given it again. Start a new chain once
		// approved.
		r.rotate, r.dirty = true, true
	}
	if !r.Joined() || r.state.Device(self) == nil || !r.state.Writable(self, r.tracker.Head(self).Seq+1) {
		return nil
	}
	if r.rotate && r.send != nil && r.g.Kind != group.KindMulti && !r.ownersKnown() {
		// An owner group hands newly seen devices the epoch's base key so
		// they read the first messages (§6.3); rotating before every owner
		// has a device here would lose those messages for good. Defer.
		r.rotate = false
		r.deferred = true
	}
	if r.deferred && r.ownersKnown() {
		r.rotate, r.deferred = true, false
	}
	if r.send == nil {
		if err := r.newEpoch(); err != nil {
			return err
		}
	}
	defer r.pruneKeys()
	// Hand the current epoch to devices that lack it before rotating: a
	// device just seen in an owner group must get the base key of the epoch
	// its first messages were sealed in.
	if err := r.distribute(lk); err != nil {
		return err
	}
	if !r.rotate {
		return r.updateKey()
	}
	// A rotation also replaces this device's key-agreement key: a copy of
	// its state taken before reads neither what it sends now nor what is
	// sealed to it once the others have seen the update (§6.4).
	r.agreeDue = true
	if err := r.newEpoch(); err != nil {
		return err
	}
	if err := r.distribute(lk); err != nil {
		return err
	}
	return r.updateKey()
}

func (r *Replica) newEpoch() error {
	self := r.device.Public()
	epoch := uint32(1)
	if r.send != nil {
		epoch = r.send.Epoch + 1
	}
	s, err := ratchet.NewSend(epoch, r.now, r.cfg.Rand)
	if err != nil {
		return err
	}
	r.send, r.rotate = s, false
	clear(r.given)
	clear(r.givenFrom)
	r.rd.Events = append(r.rd.Events, Event{Kind: EventRotated, Device: self, Seq: uint64(epoch)})
	r.dirty = true
	return nil
}

// distribute gives every active device what it lacks of this device's
// current chain and of the epochs this replica holds (§6.3): a chain to a
// device without it, the epochs it is not known to hold — all of them for a
// device new to the group, which then reads the group's metadata history.
//
// Keys are read through lk when first needed (nil: devices whose key is not
// in memory yet get their box at the next maintain).
func (r *Replica) distribute(lk feed.Lookup) error {
	self := r.device.Public()
	// In account and contact groups every member is known from the start, so
	// a device seen late gets the chain from the epoch's first message; in
	// multi-member groups a newcomer reads from where this device first had
	// the chain to give it (chainFor).
	ad := chainKeyAD(&r.g.Keys.Topic, self, r.send.Epoch)
	var boxes []state.Box
	var size int
	flush := func() error {
		if len(boxes) == 0 {
			return nil
		}
		ev := &state.Event{Keys: &state.ChainKeys{Epoch: r.send.Epoch, Boxes: boxes, Hybrid: true}}
		if _, err := r.postMetadata(ev, 0, nil); err != nil {
			return err
		}
		r.noteHolders(self, ev.Keys)
		boxes, size = nil, 0
		return nil
	}
	for _, d := range r.state.ActiveDevices() {
		if d == self {
			continue
		}
		needChain := r.given[d] != r.send.Epoch || r.resend[d]
		if _, ok := r.givenFrom[d]; !ok && r.given[d] != r.send.Epoch && r.g.Kind == group.KindMulti {
			// d may read from here on, whenever its box goes: its key
			// update may come after its announce (a sync shows the announce
			// alone, §10.2), and what is sent meanwhile is d's to read
			// (§6.4). A device that lost a box of ours gets the chain again
			// from there too, with every epoch (missingEpochs).
			r.givenFrom[d] = r.send.Counter
			r.dirty = true
		}
		missing := r.missingEpochs(d)
		if !needChain && len(missing) == 0 {
			continue
		}
		to := r.agreementKey(d, lk)
		if to == nil {
			// Its key update (posted with its announce) has not arrived:
			// it gets its box when it does (§6.4).
			continue
		}
		var chain []byte
		if needChain {
			chain = r.chainFor(d)
		}
		history := make([]bool, len(missing))
		for i, h := range missing {
			history[i] = !r.vouched(h)
		}
		box, err := seal.SealHybrid(to, boxPlaintext(chain, missing, history), ad, r.cfg.Rand)
		if err != nil {
			return err
		}
		if r.resend[d] {
			delete(r.resend, d)
			r.dirty = true
		}
		r.sealedTo[d] = r.peerKeys[d].seq
		b := state.Box{Recipient: d, Key: r.peerKeys[d].seq, Sealed: box}
		for _, h := range missing {
			b.Epochs = append(b.Epochs, h.ID)
		}
		if len(boxes) == state.MaxRecipients || size+len(box) > maxBoxesBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		boxes = append(boxes, b)
		size += len(box) + 32 + group.EpochIDSize*len(b.Epochs)
		r.given[d] = r.send.Epoch
	}
	return flush()
}

// ownersKnown reports whether every owner of an account or contact group has
// at least one device this replica knows, with its key-agreement key: one
// it can hand the current epoch's base key to before a rotation (§6.3, §6.4).
func (r *Replica) ownersKnown() bool {
	for _, o := range r.g.Owners {
		m := r.state.Member(o)
		self := r.device.Public()
		if m == nil || !slices.ContainsFunc(m.Devices, func(d keys.Public) bool { return d == self || r.hasKey(d) }) {
			return false
		}
	}
	return true
}
