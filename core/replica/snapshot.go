package replica

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// Snapshot format version (§7.4). The snapshot holds everything a replica
// needs to resume — feed heads, frozen devices, membership events, ratchet
// chains — and nothing that grows with the number of messages.
// Version 3 adds the membership number (§3.2) after the version byte; a
// version 2 snapshot is read as membership 0. Version 4 adds to each held
// epoch the seq of the entry that gave it; earlier versions read it as 0
// (unknown). Version 5 adds the key-agreement keys (§6.4); earlier versions
// read as holding the one key they used, derived from the device seed, and
// replace it at once.
const snapshotVersion = 5

// Limits when reading a snapshot back; a snapshot is local data, but a
// corrupted file must give an error, not a crash or a huge allocation.
const (
	maxSnapDevices = 1 << 16
	maxSnapOps     = 1 << 20
	maxSnapEvent   = 1 << 20
)

func sortDeps(d []feed.Dep) {
	sort.Slice(d, func(i, j int) bool { return bytes.Compare(d[i].Device[:], d[j].Device[:]) < 0 })
}

func sortedKeys[V any](m map[keys.Public]V) []keys.Public {
	out := make([]keys.Public, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

func (r *Replica) snapshot() []byte {
	b := []byte{snapshotVersion}
	b = wire.AppendUvarint(b, uint64(r.membership))
	heads := r.tracker.Heads()
	b = wire.AppendUvarint(b, uint64(len(heads)))
	for _, d := range sortedKeys(heads) {
		h := heads[d]
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, h.Seq)
		b = append(b, h.ID[:]...)
		b = wire.AppendUvarint(b, h.Lamport)
	}
	limits := r.tracker.Limits()
	b = wire.AppendUvarint(b, uint64(len(limits)))
	for _, d := range sortedKeys(limits) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, limits[d])
	}
	ops := r.state.Ops()
	b = wire.AppendUvarint(b, uint64(len(ops)))
	for _, o := range ops {
		b = append(b, o.Author[:]...)
		b = wire.AppendUvarint(b, o.Seq)
		b = wire.AppendUvarint(b, o.Lamport)
		b = append(b, o.ID[:]...)
		b = wire.AppendBytes(b, o.Event.Encode())
	}
	if r.send == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = wire.AppendUvarint(b, uint64(r.send.Epoch))
		b = wire.AppendUvarint(b, uint64(r.send.Counter))
		b = append(b, r.send.CK[:]...)
		b = wire.AppendUvarint(b, uint64(r.send.Sent))
		b = wire.AppendUvarint(b, uint64(r.send.Started)) // two's complement: the clock may be negative
		b = append(b, r.send.Base[:]...)
	}
	b = wire.AppendUvarint(b, uint64(len(r.recv)))
	for _, d := range sortedKeys(r.recv) {
		rc := r.recv[d]
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, uint64(rc.Epoch))
		b = wire.AppendUvarint(b, uint64(rc.Counter))
		b = append(b, rc.CK[:]...)
		cs := make([]uint32, 0, len(rc.Skipped))
		for c := range rc.Skipped {
			cs = append(cs, c)
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i] < cs[j] })
		b = wire.AppendUvarint(b, uint64(len(cs)))
		for _, c := range cs {
			k := rc.Skipped[c]
			b = wire.AppendUvarint(b, uint64(c))
			b = append(b, k[:]...)
		}
	}
	b = wire.AppendUvarint(b, uint64(len(r.given)))
	for _, d := range sortedKeys(r.given) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, uint64(r.given[d]))
	}
	b = wire.AppendUvarint(b, uint64(len(r.undecrypted)))
	for _, d := range sortedKeys(r.undecrypted) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, uint64(len(r.undecrypted[d])))
		for _, s := range r.undecrypted[d] {
			b = wire.AppendUvarint(b, s)
		}
	}
	b = wire.AppendUvarint(b, uint64(len(r.equivocated)))
	for _, d := range sortedKeys(r.equivocated) {
		b = append(b, d[:]...)
	}
	changed := r.tracker.Changed()
	b = wire.AppendUvarint(b, uint64(len(changed)))
	for _, d := range changed {
		b = append(b, d[:]...)
	}
	b = append(b, flagByte(r.rotate), flagByte(r.deferred))
	b = wire.AppendUvarint(b, uint64(r.now))
	b = r.appendEpochs(b)
	return r.appendAgree(b)
}

// sortedReader reads device keys that must be strictly increasing, as
// snapshot writes them, so that a corrupted snapshot is refused rather than
// half-read.
type sortedReader struct {
	prev keys.Public
	some bool
}

func (o *sortedReader) next(rd *wire.Reader) keys.Public {
	d := keys.Public(rd.Fixed32())
	if o.some && bytes.Compare(o.prev[:], d[:]) >= 0 && rd.Err() == nil {
		rd.Fail("snapshot devices not sorted")
	}
	o.prev, o.some = d, true
	return d
}

func readFlag(rd *wire.Reader) bool {
	switch rd.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	rd.Fail("snapshot flag not 0 or 1")
	return false
}

func (r *Replica) restore(snap []byte) error {
	rd := wire.NewReader(snap)
	v := rd.Byte()
	switch {
	case v == snapshotVersion, v == 4, v == 3:
		r.setMembership(uint32(rd.Uvarint(1<<32 - 1)))
	case v == 2:
		r.setMembership(0)
	case rd.Err() != nil:
	default:
		return fmt.Errorf("snapshot version %d, want %d", v, snapshotVersion)
	}
	heads := map[keys.Public]feed.Head{}
	n := rd.Uvarint(maxSnapDevices)
	var order sortedReader
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		heads[d] = feed.Head{Seq: rd.Uvarint(feed.MaxSeq), ID: rd.Fixed32(), Lamport: rd.Uvarint(feed.MaxLamport)}
	}
	limits := map[keys.Public]uint64{}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		limits[d] = rd.Uvarint(feed.MaxSeq)
	}
	var ops []*state.Op
	n = rd.Uvarint(maxSnapOps)
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		o := &state.Op{Author: rd.Fixed32(), Seq: rd.Uvarint(feed.MaxSeq), Lamport: rd.Uvarint(feed.MaxLamport), ID: rd.Fixed32()}
		raw := rd.Bytes(maxSnapEvent)
		if rd.Err() != nil {
			break
		}
		ev, err := state.Decode(raw)
		if err != nil {
			return fmt.Errorf("snapshot op %d: %w", i, err)
		}
		o.Event = ev
		ops = append(ops, o)
	}
	if readFlag(rd) {
		r.send = &ratchet.Send{
			Epoch: uint32(rd.Uvarint(1<<32 - 1)), Counter: uint32(rd.Uvarint(1<<32 - 1)), CK: rd.Fixed32(),
			Sent: uint32(rd.Uvarint(1<<32 - 1)), Started: int64(rd.Uvarint(math.MaxUint64)), Base: rd.Fixed32(),
		}
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		rc := ratchet.NewRecv(uint32(rd.Uvarint(1<<32-1)), uint32(rd.Uvarint(1<<32-1)), rd.Fixed32())
		rc.Window = r.cfg.Window
		m := rd.Uvarint(ratchet.DefaultWindow * 4)
		for j := uint64(0); j < m && rd.Err() == nil; j++ {
			if rc.Skipped == nil {
				rc.Skipped = map[uint32][32]byte{}
			}
			c := uint32(rd.Uvarint(1<<32 - 1))
			rc.Skipped[c] = rd.Fixed32()
		}
		r.recv[d] = rc
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.given[d] = uint32(rd.Uvarint(1<<32 - 1))
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		m := rd.Uvarint(MaxUndecrypted)
		seqs := make([]uint64, 0, m)
		for j := uint64(0); j < m && rd.Err() == nil; j++ {
			seqs = append(seqs, rd.Uvarint(feed.MaxSeq))
		}
		r.undecrypted[d] = seqs
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		r.equivocated[order.next(rd)] = true
	}
	var changed []keys.Public
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		changed = append(changed, order.next(rd))
	}
	r.rotate = readFlag(rd)
	r.deferred = readFlag(rd)
	r.now = int64(rd.Uvarint(math.MaxUint64))
	r.readEpochs(rd, v >= 4)
	if v >= 5 {
		r.readAgree(rd)
	} else if heads[r.device.Public()].Seq > 0 {
		// Before key updates a device opened its boxes with a key derived
		// from its seed: keep it until the others have seen the new one.
		r.own = []ownKey{{legacy: r.device.LegacyAgreement(), made: r.now}}
		r.agreeDue = true
	}
	if err := rd.Done(); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	r.tracker.Restore(heads, limits)
	for _, d := range changed {
		r.tracker.MarkChanged(d)
	}
	r.state.Restore(ops)
	r.dirty = false // readEpochs marks it: what was read is what is persisted
	for _, m := range r.state.Members() {
		if m.Removed {
			r.removed[m.Key] = true
		}
		for d := range m.Revoked {
			r.revoked[d] = true
		}
	}
	return nil
}
