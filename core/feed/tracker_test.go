package feed

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"

	"pgregory.net/rapid"

	"github.com/berty-go/berty/core/keys"
)

// trHistory is a set of valid entries written by a few devices that learn of
// each other's feeds at random moments: each entry extends its author's feed
// (seq, prev), has a Lamport clock above everything its author has seen, and
// depends (deps) on the other feeds as far as its author has seen them, the
// way Tracker.NextLocal builds them.
type trHistory struct {
	topic, replication [32]byte
	devices            []*keys.Pair
	entries            []*Entry
	last               map[keys.Public]*Entry
}

func trKey(i int, salt uint64) *keys.Pair {
	var seed [32]byte
	seed[0] = byte(i + 1)
	binary.LittleEndian.PutUint64(seed[8:], salt)
	return keys.FromSeed(seed)
}

func genHistory(t *rapid.T, ndev int) *trHistory {
	salt := rapid.Uint64().Draw(t, "salt")
	h := &trHistory{last: map[keys.Public]*Entry{}}
	h.topic[0], h.replication[0] = 1, 2
	for i := range ndev {
		h.devices = append(h.devices, trKey(i, salt))
	}
	// seen[a][b]: the newest entry of b's feed that a has seen.
	seen := make([]map[keys.Public]*Entry, ndev)
	changed := make([]map[keys.Public]bool, ndev)
	for i := range seen {
		seen[i], changed[i] = map[keys.Public]*Entry{}, map[keys.Public]bool{}
	}
	n := rapid.IntRange(1, 30).Draw(t, "entries")
	for k := range n {
		a := rapid.IntRange(0, ndev-1).Draw(t, "author")
		self := h.devices[a].Public()
		// Sync: a learns some other feed up to some seq.
		if b := rapid.IntRange(-1, ndev-1).Draw(t, "sync from"); b >= 0 && b != a {
			if head := h.last[h.devices[b].Public()]; head != nil {
				upto := uint64(rapid.IntRange(1, int(head.Seq)).Draw(t, "sync upto"))
				var e *Entry
				for _, x := range h.entries {
					if x.Author == head.Author && x.Seq == upto {
						e = x
					}
				}
				// What a knows of b is causally closed: take the deps of
				// that entry along.
				learn(seen[a], changed[a], h, e)
			}
		}
		var lamport uint64
		var deps []Dep
		for _, d := range h.devices {
			p := d.Public()
			if x := seen[a][p]; x != nil && p != self {
				lamport = max(lamport, x.Lamport)
				if changed[a][p] || rapid.IntRange(0, 4).Draw(t, "extra dep") == 0 {
					deps = append(deps, Dep{Device: p, Seq: x.Seq})
				}
			}
		}
		sortTrDeps(deps)
		u := &Unsigned{Topic: h.topic, Seq: 1, Lamport: lamport + 1, Deps: deps, Kind: KindMetadata,
			Payload: []byte(fmt.Sprintf("entry %d", k))}
		if prev := h.last[self]; prev != nil {
			u.Seq, u.Prev = prev.Seq+1, prev.ID
			u.Lamport = max(u.Lamport, prev.Lamport+1)
			u.Kind = rapid.SampledFrom([]Kind{KindMetadata, KindMessage}).Draw(t, "kind")
		}
		e, err := Sign(u, &h.replication, h.devices[a])
		if err != nil {
			t.Fatal(err)
		}
		h.entries = append(h.entries, e)
		h.last[self] = e
		seen[a][self] = e
		clear(changed[a])
	}
	return h
}

// learn records that a has seen e and, transitively, everything e depends on.
func learn(seen map[keys.Public]*Entry, changed map[keys.Public]bool, h *trHistory, e *Entry) {
	if old := seen[e.Author]; old != nil && old.Seq >= e.Seq {
		return
	}
	seen[e.Author] = e
	changed[e.Author] = true
	for _, d := range e.Deps {
		for _, x := range h.entries {
			if x.Author == d.Device && x.Seq == d.Seq {
				learn(seen, changed, h, x)
			}
		}
	}
	// The author's own earlier entries are implied by prev.
}

func sortTrDeps(d []Dep) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && less(d[j].Device, d[j-1].Device); j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// trStore is the storage behind a tracker: what was appended.
type trStore map[keys.Public]map[uint64]*Entry

func (s trStore) Entry(d keys.Public, seq uint64) (Head, bool, error) {
	e, ok := s[d][seq]
	if !ok {
		return Head{}, false, nil
	}
	return Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}, true, nil
}

// trDriver ingests entries as a replica does: verify, offer, append the
// ready ones and offer again what they release.
type trDriver struct {
	t        *rapid.T
	tr       *Tracker
	store    trStore
	appended map[ID]int
	refused  []*Entry
	h        *trHistory
	stats    *trStats
}

// trStats make sure the generated deliveries exercise the tracker: entries
// held for a predecessor, held for a dependency only, refused for lack of
// room, duplicates, and cascades of releases.
type trStats struct {
	checks, heldPrev, heldDep, full, dup, cascade int
}

func (d *trDriver) deliver(e *Entry) {
	t := d.t
	if err := e.Verify(&d.h.topic, &d.h.replication); err != nil {
		t.Fatalf("valid entry does not verify: %v", err)
	}
	queue := []*Entry{e}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		out, eq, err := d.tr.Offer(x, d.store)
		if eq != nil {
			t.Fatalf("equivocation reported between valid entries: %+v", eq)
		}
		switch out {
		case Ready:
			d.checkReady(x)
			d.tr.Append(x)
			if d.store[x.Author] == nil {
				d.store[x.Author] = map[uint64]*Entry{}
			}
			d.store[x.Author][x.Seq] = x
			d.appended[x.ID]++
			if d.appended[x.ID] > 1 {
				t.Fatalf("entry %s/%d offered as Ready twice", x.Author, x.Seq)
			}
		case Held, Duplicate:
			if out == Duplicate {
				d.stats.dup++
			} else if x.Seq == d.tr.Head(x.Author).Seq+1 {
				d.stats.heldDep++
			} else {
				d.stats.heldPrev++
			}
			if err != nil {
				t.Fatalf("outcome %d with error %v", out, err)
			}
		case Refused:
			if !errors.Is(err, ErrHeldFull) {
				t.Fatalf("valid entry %s/%d refused: %v", x.Author, x.Seq, err)
			}
			d.refused = append(d.refused, x)
			d.stats.full++
		}
		if x != e && out == Ready {
			d.stats.cascade++
		}
		if d.tr.HeldCount() > d.tr.maxHeld {
			t.Fatalf("%d held entries, limit %d", d.tr.HeldCount(), d.tr.maxHeld)
		}
		queue = append(queue, d.tr.Released()...)
	}
}

// checkReady checks that a Ready entry really extends its feed and has all
// its dependencies: delivery is causal.
func (d *trDriver) checkReady(e *Entry) {
	t := d.t
	h := d.tr.Head(e.Author)
	if e.Seq != h.Seq+1 || (e.Seq > 1 && e.Prev != h.ID) {
		t.Fatalf("entry %s/%d Ready on head %d", e.Author, e.Seq, h.Seq)
	}
	for _, dep := range e.Deps {
		if d.tr.Head(dep.Device).Seq < dep.Seq {
			t.Fatalf("entry %s/%d Ready before its dependency %s/%d", e.Author, e.Seq, dep.Device, dep.Seq)
		}
	}
}

// TestTrackerAnyOrder: entries of three devices delivered in any order, with
// duplicates, are each appended exactly once, in causal order, and leave the
// same heads; nothing stays held. With a small hold, entries refused for lack
// of room come back (as by sync) until everything is in.
func TestTrackerAnyOrder(t *testing.T) {
	limitShrinking(t)
	var st trStats
	rapid.Check(t, func(t *rapid.T) {
		st.checks++
		h := genHistory(t, 3)
		maxHeld := rapid.SampledFrom([]int{0, 1, 3}).Draw(t, "max held") // 0: default
		d := &trDriver{t: t, tr: NewTracker(maxHeld), store: trStore{}, appended: map[ID]int{}, h: h, stats: &st}

		order := rapid.Permutation(h.entries).Draw(t, "order")
		dups := rapid.SliceOfN(rapid.IntRange(0, len(h.entries)-1), 0, 10).Draw(t, "duplicates")
		for i, j := range dups {
			at := rapid.IntRange(0, len(order)).Draw(t, fmt.Sprintf("duplicate %d at", i))
			order = append(order[:at], append([]*Entry{h.entries[j]}, order[at:]...)...)
		}
		for _, e := range order {
			d.deliver(e)
		}
		for round := 0; len(d.refused) > 0; round++ {
			if round > len(h.entries) {
				t.Fatalf("no progress: %d entries still refused", len(d.refused))
			}
			again := d.refused
			d.refused = nil
			for _, e := range again {
				d.deliver(e)
			}
		}

		for _, e := range h.entries {
			if d.appended[e.ID] != 1 {
				t.Fatalf("entry %s/%d appended %d times", e.Author, e.Seq, d.appended[e.ID])
			}
		}
		heads := d.tr.Heads()
		if len(heads) != len(h.last) {
			t.Fatalf("%d heads, want %d", len(heads), len(h.last))
		}
		for dev, e := range h.last {
			if got, want := heads[dev], (Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}); got != want {
				t.Fatalf("head of %s: %+v, want %+v", dev, got, want)
			}
			if d.tr.Vector()[dev] != e.Seq {
				t.Fatalf("vector of %s: %d, want %d", dev, d.tr.Vector()[dev], e.Seq)
			}
		}
		if n := d.tr.HeldCount(); n != 0 {
			t.Fatalf("%d entries still held", n)
		}
		if len(d.tr.waiting) != 0 || len(d.tr.release) != 0 {
			t.Fatalf("tracker keeps %d waiting lists and %d released entries after everything is in", len(d.tr.waiting), len(d.tr.release))
		}
		// Everything again: all duplicates.
		for _, e := range h.entries {
			if out, _, err := d.tr.Offer(e, d.store); out != Duplicate || err != nil {
				t.Fatalf("entry %s/%d again: %d %v, want Duplicate", e.Author, e.Seq, out, err)
			}
		}
		// The next local entry of any device follows its head.
		for _, dev := range h.devices {
			seq, prev, lamport, _ := d.tr.NextLocal(dev.Public())
			hd := heads[dev.Public()]
			if seq != hd.Seq+1 || prev != hd.ID || lamport <= hd.Lamport {
				t.Fatalf("NextLocal(%s) = %d %s %d after head %+v", dev.Public(), seq, prev, lamport, hd)
			}
		}
	})
	t.Logf("%+v", st)
	if st.checks >= 50 && (st.heldPrev == 0 || st.heldDep == 0 || st.full == 0 || st.dup == 0 || st.cascade == 0) {
		t.Fatalf("the deliveries do not exercise the tracker: %+v", st)
	}
}

// limitShrinking caps the time rapid spends minimizing a failure (30 s by
// default), unless the command line or the environment sets it, so that a
// failing property does not make the package's tests slow.
func limitShrinking(t *testing.T) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.shrinktime" })
	if _, env := os.LookupEnv("RAPID_SHRINKTIME"); set || env {
		return
	}
	if err := flag.Set("rapid.shrinktime", "3s"); err != nil {
		t.Fatal(err)
	}
}

// trChain signs entries for the deterministic tests.
type trChain struct {
	t                  *testing.T
	topic, replication [32]byte
	last               map[keys.Public]*Entry
}

func (c *trChain) next(author *keys.Pair, lamport uint64, deps ...Dep) *Entry {
	u := &Unsigned{Topic: c.topic, Seq: 1, Lamport: lamport, Deps: deps, Kind: KindMetadata, Payload: []byte{byte(lamport)}}
	if prev := c.last[author.Public()]; prev != nil {
		u.Seq, u.Prev = prev.Seq+1, prev.ID
	}
	e, err := Sign(u, &c.replication, author)
	if err != nil {
		c.t.Fatal(err)
	}
	c.last[author.Public()] = e
	return e
}

// TestTrackerFreeze: freezing a device (a removal's cut-off, an
// equivocation) drops its held entries past the limit, refuses its later
// ones, and releases the entries of others that waited for it.
func TestTrackerFreeze(t *testing.T) {
	a, b := trKey(0, 7), trKey(1, 7)
	c := &trChain{t: t, last: map[keys.Public]*Entry{}}
	a1, b1 := c.next(a, 1), c.next(b, 1)
	b2, b3, b4 := c.next(b, 2), c.next(b, 3), c.next(b, 4)
	a2 := c.next(a, 5, Dep{Device: b.Public(), Seq: 3}) // a saw b up to 3

	tr, st := NewTracker(0), trStore{}
	ingest := func(e *Entry) (Outcome, error) {
		out, _, err := tr.Offer(e, st)
		if out == Ready {
			tr.Append(e)
			if st[e.Author] == nil {
				st[e.Author] = map[uint64]*Entry{}
			}
			st[e.Author][e.Seq] = e
		}
		return out, err
	}
	for _, e := range []*Entry{a1, b1} {
		if out, err := ingest(e); out != Ready || err != nil {
			t.Fatalf("%d %v", out, err)
		}
	}
	// a2 waits for b3; b3 and b4 wait for b2.
	for _, e := range []*Entry{a2, b3, b4} {
		if out, err := ingest(e); out != Held || err != nil {
			t.Fatalf("%s/%d: %d %v, want Held", e.Author, e.Seq, out, err)
		}
	}
	// b is cut off at 1: b3 and b4 are dropped, a2 no longer waits and
	// is released, to be offered again.
	tr.Freeze(b.Public(), 1)
	if tr.HeldCount() != 0 {
		t.Fatalf("%d held after the freeze, want none", tr.HeldCount())
	}
	rel := tr.Released()
	if len(rel) != 1 || rel[0] != a2 {
		t.Fatalf("released %v, want a2", rel)
	}
	if out, err := ingest(a2); out != Ready || err != nil {
		t.Fatalf("a2 after the freeze: %d %v", out, err)
	}
	if tr.HeldCount() != 0 || len(tr.waiting) != 0 {
		t.Fatalf("held %d, waiting %d after everything", tr.HeldCount(), len(tr.waiting))
	}
	for _, e := range []*Entry{b2, b3, b4} {
		if out, err := ingest(e); out != Refused || !errors.Is(err, ErrCutOff) {
			t.Fatalf("b/%d after the freeze: %d %v, want ErrCutOff", e.Seq, out, err)
		}
	}
	if out, err := ingest(b1); out != Duplicate || err != nil {
		t.Fatalf("b1 again: %d %v, want Duplicate", out, err)
	}
	// A higher limit does not replace a lower one; a lower one does.
	tr.Freeze(b.Public(), 3)
	if lim, _ := tr.Limit(b.Public()); lim != 1 {
		t.Fatalf("limit %d after a higher freeze, want 1", lim)
	}
	tr.Freeze(b.Public(), 0)
	if lim, _ := tr.Limit(b.Public()); lim != 0 {
		t.Fatalf("limit %d after a lower freeze, want 0", lim)
	}
}

// TestTrackerRefusals: a clock that does not advance, a fork through prev
// and a second entry at a held position are refused without a trace.
func TestTrackerRefusals(t *testing.T) {
	a := trKey(0, 9)
	c := &trChain{t: t, last: map[keys.Public]*Entry{}}
	a1 := c.next(a, 1)
	tr, st := NewTracker(0), trStore{}
	if out, _, err := tr.Offer(a1, st); out != Ready || err != nil {
		t.Fatal(out, err)
	}
	tr.Append(a1)
	st[a.Public()] = map[uint64]*Entry{1: a1}

	stale := c.next(a, 1) // seq 2, same clock as seq 1
	if out, eq, err := tr.Offer(stale, st); out != Refused || eq != nil || !errors.Is(err, ErrLamport) {
		t.Fatalf("stale clock: %d %v %v, want ErrLamport", out, eq, err)
	}
	// Two entries at seq 3 while seq 2 is missing.
	c.last[a.Public()] = stale
	x3 := c.next(a, 3)
	c.last[a.Public()] = stale
	y3 := c.next(a, 4)
	if out, _, err := tr.Offer(x3, st); out != Held || err != nil {
		t.Fatal(out, err)
	}
	out, eq, err := tr.Offer(y3, st)
	if out != Refused || !errors.Is(err, ErrEquivocation) || eq == nil || eq.Seq != 3 || eq.A != x3.ID || eq.B != y3.ID {
		t.Fatalf("second entry at a held position: %d %+v %v", out, eq, err)
	}
	if tr.HeldCount() != 1 || tr.Head(a.Public()).Seq != 1 {
		t.Fatalf("refusal changed the tracker: held %d, head %d", tr.HeldCount(), tr.Head(a.Public()).Seq)
	}
	// A fork at seq 1: another first entry.
	c.last[a.Public()] = nil
	other := c.next(a, 6) // refused as a fork before its clock is looked at
	out, eq, err = tr.Offer(other, st)
	if out != Refused || !errors.Is(err, ErrEquivocation) || eq == nil || eq.Seq != 1 || eq.A != a1.ID {
		t.Fatalf("second first entry: %d %+v %v", out, eq, err)
	}
}

// TestTrackerClockRule: an entry's clock is exactly 1 + the highest clock of
// its predecessor and dependencies (§4.3). A clock far ahead — one entry near
// MaxLamport would stop every later entry — and a clock behind what the
// author declares it saw (a backdated entry) are both refused; a dependency
// the replica will never hold (past a freeze) allows at most UnknownDepSlack.
func TestTrackerClockRule(t *testing.T) {
	a, b, x := trKey(0, 1), trKey(0, 2), trKey(0, 3)
	c := &trChain{t: t, last: map[keys.Public]*Entry{}}
	tr, st := NewTracker(0), trStore{}
	ingest := func(e *Entry) (Outcome, error) {
		out, _, err := tr.Offer(e, st)
		if out == Ready {
			tr.Append(e)
			if st[e.Author] == nil {
				st[e.Author] = map[uint64]*Entry{}
			}
			st[e.Author][e.Seq] = e
		}
		return out, err
	}
	must := func(e *Entry) {
		t.Helper()
		if out, err := ingest(e); out != Ready || err != nil {
			t.Fatalf("%d/%d clock %d: %d %v, want Ready", e.Seq, e.Lamport, e.Lamport, out, err)
		}
	}
	refuse := func(what string, e *Entry) {
		t.Helper()
		if out, err := ingest(e); out != Refused || !errors.Is(err, ErrLamport) {
			t.Fatalf("%s: %d %v, want ErrLamport", what, out, err)
		}
		delete(c.last, e.Author)
		if e.Seq > 1 {
			c.last[e.Author] = st[e.Author][e.Seq-1]
		}
	}
	refuse("a first entry near MaxLamport", c.next(a, MaxLamport-1))
	refuse("a first entry at 2", c.next(a, 2))
	must(c.next(a, 1))
	must(c.next(b, 1))
	b2 := c.next(b, 2)
	must(b2)
	refuse("a clock that jumps", c.next(a, 1000, Dep{Device: b.Public(), Seq: 2}))
	refuse("a clock that ignores a dependency (backdated)", c.next(a, 2, Dep{Device: b.Public(), Seq: 2}))
	must(c.next(a, 3, Dep{Device: b.Public(), Seq: 2}))
	// An older dependency is looked up where it is stored, not at the head.
	must(c.next(b, 3))
	must(c.next(b, 4))
	refuse("a clock one below an older dependency's", c.next(x, 1, Dep{Device: b.Public(), Seq: 2}))
	must(c.next(x, 3, Dep{Device: b.Public(), Seq: 2}))
	if s, _, l, _ := tr.NextLocal(a.Public()); s != 3 || l != 5 {
		t.Fatalf("NextLocal: seq %d lamport %d, want 3 and 5 (1 + b's head 4)", s, l)
	}

	// b is frozen at 4: an entry that depends on b's 6th entry, which this
	// replica will never hold, may be ahead by UnknownDepSlack, not more.
	tr.Freeze(b.Public(), 4)
	dep := Dep{Device: b.Public(), Seq: 6}
	refuse("a clock past the slack of an unknown dependency", c.next(x, 4+UnknownDepSlack, dep))
	must(c.next(x, 3+UnknownDepSlack, dep))
}
