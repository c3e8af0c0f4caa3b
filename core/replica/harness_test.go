package replica

// Test harness shared by the replica tests: an in-memory store behind the
// Lookup interface, peers that persist every Ready the way an application
// must (truncations, entries, messages, snapshot, then publish), and a
// "network" that is simply the list of every entry ever published.
//
// Everything is deterministic: keys, group secrets, chain keys and nonces all
// come from a seeded ChaCha8 stream.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"

	"pgregory.net/rapid"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// memLookup is the harness's storage: every entry a peer persisted. It
// implements feed.Lookup and RawReader, as the node's storage does.
type memLookup map[keys.Public]map[uint64]*feed.Entry

func (m memLookup) Entry(d keys.Public, s uint64) (feed.Head, bool, error) {
	e, ok := m[d][s]
	if !ok {
		return feed.Head{}, false, nil
	}
	return feed.Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}, true, nil
}

func (m memLookup) Raw(d keys.Public, s uint64) ([]byte, bool, error) {
	e, ok := m[d][s]
	if !ok {
		return nil, false, nil
	}
	return e.Encoded, true, nil
}

func (m memLookup) persist(rd Ready) {
	for _, t := range rd.Truncations {
		for s := range m[t.Device] {
			if s > t.After {
				delete(m[t.Device], s)
			}
		}
	}
	for _, e := range rd.Entries {
		if m[e.Author] == nil {
			m[e.Author] = map[uint64]*feed.Entry{}
		}
		m[e.Author][e.Seq] = e
	}
}

func (m memLookup) clone() memLookup {
	c := memLookup{}
	for d, f := range m {
		c[d] = map[uint64]*feed.Entry{}
		for s, e := range f {
			c[d][s] = e
		}
	}
	return c
}

// count returns how many entries are stored.
func (m memLookup) count() int {
	n := 0
	for _, f := range m {
		n += len(f)
	}
	return n
}

// seededRand returns a deterministic randomness source for replicas and keys.
func seededRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

type msgKey struct {
	author keys.Public
	seq    uint64
}

// peer is one device in one group with its persistent storage.
type peer struct {
	name   string
	cfg    Config
	r      *Replica
	lk     memLookup
	snap   []byte             // last persisted snapshot
	msgs   map[msgKey]Message // persisted messages, truncations applied
	stored map[msgKey]*feed.Entry
	events []Event
	sent   map[msgKey]string // messages this device sent and published (never truncated)
	mute   bool              // a forked observer: its outbox is not published
	// truncated counts the messages deleted by truncations.
	truncated int
}

// cluster is a set of peers and the network they publish to.
type cluster struct {
	t     rapid.TB // a *testing.T or a *rapid.T
	rnd   *rand.ChaCha8
	g     *group.Group // the creator's view of the group
	peers []*peer
	wire  [][]byte // every entry ever published, in publication order
	seen  map[feed.ID]bool
	// configure, if set, adjusts the config of every new peer.
	configure func(*Config)
	// lenient, if set, records every error of Receive in errs instead of
	// failing the test at once.
	lenient bool
	errs    []error
	// tolerate lists errors that Receive may return during syncs without
	// failing the test (for example feed.ErrCutOff after a removal).
	tolerate []error
}

func newCluster(t rapid.TB, seed uint64) *cluster {
	t.Helper()
	c := &cluster{t: t, rnd: seededRand(seed), seen: map[feed.ID]bool{}}
	g, err := group.Create(c.rnd)
	if err != nil {
		t.Fatal(err)
	}
	c.g = g
	return c
}

func (c *cluster) newKey() *keys.Pair {
	k, err := keys.Generate(c.rnd)
	if err != nil {
		c.t.Fatal(err)
	}
	return k
}

func (c *cluster) newPeer(name string, g *group.Group, account *keys.Pair) *peer {
	c.t.Helper()
	if account == nil {
		account = c.newKey()
	}
	cfg := Config{Group: g, Account: account, Device: c.newKey(), Rand: c.rnd}
	if c.configure != nil {
		c.configure(&cfg)
	}
	r, err := New(cfg, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	p := &peer{name: name, cfg: cfg, r: r, lk: memLookup{},
		msgs: map[msgKey]Message{}, stored: map[msgKey]*feed.Entry{}, sent: map[msgKey]string{}}
	c.peers = append(c.peers, p)
	return p
}

// creator makes the group's creator and announces it with the genesis proof.
func (c *cluster) creator(name string) *peer {
	c.t.Helper()
	p := c.newPeer(name, c.g, nil)
	if err := p.r.AnnounceGenesis(p.lk); err != nil {
		c.t.Fatal(err)
	}
	c.flush(p)
	return p
}

// join invites a new member through inviter and announces it. The new peer
// has not synced anything yet.
func (c *cluster) join(inviter *peer, name string) *peer {
	c.t.Helper()
	inv, err := inviter.r.Invite(inviter.lk)
	if err != nil {
		c.t.Fatal(err)
	}
	c.flush(inviter) // the invitation is recorded on the inviter's feed
	return c.join2(inv, name)
}

// join2 has a new peer announce itself with inv; it has synced nothing.
func (c *cluster) join2(inv *Invitation, name string) *peer {
	c.t.Helper()
	inv, err := DecodeInvitation(inv.Encode())
	if err != nil {
		c.t.Fatal(err)
	}
	p := c.newPeer(name, inv.Group(), nil)
	if err := p.r.AnnounceInvited(inv, p.lk); err != nil {
		c.t.Fatal(err)
	}
	c.flush(p)
	return p
}

// flush persists p's Ready as an application must, publishes its outbox and
// advances it. It returns the Ready.
func (c *cluster) flush(p *peer) Ready {
	c.t.Helper()
	rd := p.r.Ready()
	for _, tr := range rd.Truncations {
		for k := range p.msgs {
			if k.author == tr.Device && k.seq > tr.After {
				delete(p.msgs, k)
				p.truncated++
			}
		}
		for k := range p.stored {
			if k.author == tr.Device && k.seq > tr.After {
				delete(p.stored, k)
			}
		}
	}
	p.lk.persist(rd)
	for _, e := range rd.Entries {
		k := msgKey{e.Author, e.Seq}
		if old, ok := p.stored[k]; ok && old.ID != e.ID {
			c.t.Fatalf("%s: stores %x at %s/%d over %x", p.name, e.ID[:4], e.Author, e.Seq, old.ID[:4])
		}
		p.stored[k] = e
	}
	for _, m := range rd.Messages {
		k := msgKey{m.Author, m.Seq}
		if old, ok := p.msgs[k]; ok {
			c.t.Fatalf("%s: message %s/%d delivered twice (%q, then %q)", p.name, m.Author, m.Seq, old.Body, m.Body)
		}
		p.msgs[k] = m
		if m.Own {
			p.sent[k] = string(m.Body)
		}
	}
	if rd.Snapshot != nil {
		p.snap = rd.Snapshot
	}
	p.events = append(p.events, rd.Events...)
	for _, e := range rd.Outbox {
		if !p.mute && !c.seen[e.ID] {
			c.seen[e.ID] = true
			c.wire = append(c.wire, e.Encoded)
		}
	}
	p.r.Advance()
	return rd
}

// restart drops p's replica (and anything not flushed) and resumes it from
// its last persisted snapshot, with the same storage.
func (c *cluster) restart(p *peer) {
	c.t.Helper()
	r, err := New(p.cfg, p.snap)
	if err != nil {
		c.t.Fatalf("%s: restore: %v", p.name, err)
	}
	p.r = r
}

// receive gives raw to p and flushes. Errors not tolerated fail the test.
func (c *cluster) receive(p *peer, raw []byte) (Outcome, error) {
	c.t.Helper()
	out, err := p.r.Receive(raw, p.lk)
	if err != nil && !c.tolerated(err) {
		e, _ := feed.Decode(raw)
		err := fmt.Errorf("%s: receive %s: outcome %d: %w", p.name, describe(e), out, err)
		if !c.lenient {
			c.t.Fatal(err)
		}
		c.errs = append(c.errs, err)
	}
	c.flush(p)
	return out, err
}

func (c *cluster) tolerated(err error) bool {
	for _, x := range c.tolerate {
		if errors.Is(err, x) {
			return true
		}
	}
	return false
}

// sync delivers every published entry to every peer in publication order,
// until nothing new is published. Entries a peer has stored already are
// skipped (duplicates are tested on purpose elsewhere; verifying them all
// again makes long runs slow).
func (c *cluster) sync(ps ...*peer) {
	c.t.Helper()
	if len(ps) == 0 {
		ps = c.peers
	}
	done := map[*peer]int{}
	for c.pass(ps, done) {
	}
}

// pass hands each of ps the entries on the wire it has not been handed yet
// (done counts them per peer), skipping those it stores already; it reports
// whether any was received.
func (c *cluster) pass(ps []*peer, done map[*peer]int) (progress bool) {
	for _, p := range ps {
		for done[p] < len(c.wire) {
			raw := c.wire[done[p]]
			done[p]++
			if e, err := feed.Decode(raw); err == nil {
				if old, ok := p.stored[msgKey{e.Author, e.Seq}]; ok && old.ID == e.ID {
					continue
				}
			}
			c.receive(p, raw)
			progress = true
		}
	}
	return progress
}

func (c *cluster) send(p *peer, body string) *Message {
	c.t.Helper()
	m, err := p.r.Send([]byte(body), p.lk)
	if err != nil {
		c.t.Fatalf("%s: send: %v", p.name, err)
	}
	c.flush(p)
	return m
}

// entryOf returns the published entry at (device, seq).
func (c *cluster) entryOf(device keys.Public, seq uint64) []byte {
	c.t.Helper()
	for _, raw := range c.wire {
		e, err := feed.Decode(raw)
		if err != nil {
			c.t.Fatal(err)
		}
		if e.Author == device && e.Seq == seq {
			return raw
		}
	}
	c.t.Fatalf("no published entry %s/%d", device, seq)
	return nil
}

func describe(e *feed.Entry) string {
	if e == nil {
		return "undecodable entry"
	}
	return fmt.Sprintf("entry %s/%d kind %d lamport %d", e.Author, e.Seq, e.Kind, e.Lamport)
}

// bodiesFrom returns the sorted bodies of p's persisted messages by author.
func (p *peer) bodiesFrom(author keys.Public) []string {
	var out []string
	for k, m := range p.msgs {
		if k.author == author {
			out = append(out, string(m.Body))
		}
	}
	sort.Strings(out)
	return out
}

func (p *peer) hasBody(body string) bool {
	for _, m := range p.msgs {
		if string(m.Body) == body {
			return true
		}
	}
	return false
}

func eventsOf(evs []Event, kind EventKind) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func vectorsEqual(a, b map[keys.Public]uint64) bool {
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

func sortedPublics(ks []keys.Public) []keys.Public {
	out := append([]keys.Public(nil), ks...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// checkpoint is a frozen copy of a peer's persistent storage.
type checkpoint struct {
	cfg    Config
	snap   []byte
	lk     memLookup
	msgs   map[msgKey]Message
	stored map[msgKey]*feed.Entry
}

func (p *peer) checkpoint() *checkpoint {
	cp := &checkpoint{cfg: p.cfg, snap: append([]byte(nil), p.snap...), lk: p.lk.clone(),
		msgs: map[msgKey]Message{}, stored: map[msgKey]*feed.Entry{}}
	for k, m := range p.msgs {
		cp.msgs[k] = m
	}
	for k, e := range p.stored {
		cp.stored[k] = e
	}
	return cp
}

// fork starts a muted copy of a checkpointed peer: an observer whose own
// entries (chain keys after a removal, say) are never published, so that it
// cannot equivocate with the original device. mod may change its config.
func (c *cluster) fork(cp *checkpoint, name string, mod func(*Config)) *peer {
	c.t.Helper()
	cfg := cp.cfg
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, cp.snap)
	if err != nil {
		c.t.Fatalf("fork %s: %v", name, err)
	}
	p := &peer{name: name, cfg: cfg, r: r, lk: cp.lk.clone(), snap: cp.snap, mute: true,
		msgs: map[msgKey]Message{}, stored: map[msgKey]*feed.Entry{}, sent: map[msgKey]string{}}
	for k, m := range cp.msgs {
		p.msgs[k] = m
	}
	for k, e := range cp.stored {
		p.stored[k] = e
	}
	return p
}
