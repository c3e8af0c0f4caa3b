// Package memnet is an in-process network for tests and the demo: a Hub that
// carries entries between endpoints in a seeded random order, with
// duplicates, batches and offline endpoints, so scenario tests explore
// delivery orders reproducibly.
//
// It stands in for what the libp2p layer does for real: an endpoint that
// joins a topic receives the topic's whole backlog (as the sync protocol
// gives a newcomer), and an endpoint that is offline gets what it missed when
// it comes back (as sync does after a partition).
package memnet

import (
	"container/heap"
	"math/rand/v2"
	"sync"
)

// Deliver hands a batch of entries of one topic to a node. An error stops the
// Hub's Run and is returned from it.
type Deliver func(topic [32]byte, raws [][]byte) error

type item struct {
	topic [32]byte
	raw   []byte
	due   uint64 // delivery order: arrival number plus a random delay
	n     uint64 // arrival number, breaks ties
}

// queue is a min-heap of items by (due, n).
type queue []item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].n < q[j].n
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// Hub connects endpoints. Its zero value is not usable; call New.
type Hub struct {
	mu     sync.Mutex // guards the fields below; never held while delivering
	rng    *rand.Rand
	dup    float64
	max    int
	window int
	log    map[[32]byte][][]byte
	eps    []*Endpoint

	delivered int

	// Concurrent mode (serve.go).
	cond     *sync.Cond
	wg       sync.WaitGroup
	started  bool
	stopping bool
	busy     int
	err      error
}

// DefaultWindow is how far the hub reorders: each entry is delayed by a
// random number of arrivals below DefaultWindow, so it is overtaken by fewer
// than DefaultWindow later entries. That stays below the replicas' hold bound
// (feed.DefaultMaxHeld), as a real network's reordering does: the hub has no
// sync to recover entries a replica had to drop.
const DefaultWindow = 1024

// New returns a hub whose choices come from seed. dup is the probability that
// an entry is delivered twice; maxBatch bounds the entries delivered at once.
// Each endpoint's queue is delivered in random order within DefaultWindow.
func New(seed uint64, dup float64, maxBatch int) *Hub {
	if maxBatch <= 0 {
		maxBatch = 1
	}
	return &Hub{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), dup: dup, max: maxBatch,
		window: DefaultWindow, log: map[[32]byte][][]byte{}}
}

// SetWindow changes the reordering window for entries queued from now on
// (1: in order per endpoint).
func (h *Hub) SetWindow(w int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.window = max(w, 1)
}

// Endpoint is one node's attachment to the hub. It implements node.Transport.
type Endpoint struct {
	hub     *Hub
	deliver Deliver
	topics  map[[32]byte]bool
	queue   queue
	arrived uint64
	online  bool
}

func (ep *Endpoint) enqueue(topic [32]byte, raw []byte) {
	h := ep.hub
	ep.arrived++
	heap.Push(&ep.queue, item{topic: topic, raw: raw, n: ep.arrived, due: ep.arrived + uint64(h.rng.IntN(h.window))})
}

// Attach adds an endpoint that delivers to d. The endpoint is online.
func (h *Hub) Attach(d Deliver) *Endpoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	ep := &Endpoint{hub: h, deliver: d, topics: map[[32]byte]bool{}, online: true}
	h.eps = append(h.eps, ep)
	if h.started {
		h.wg.Go(func() { h.serve(ep) }) // concurrent mode: deliver to it too
	}
	return ep
}

// SetDeliver replaces the node behind an endpoint (a restarted node). What
// was queued stays queued.
func (ep *Endpoint) SetDeliver(d Deliver) {
	ep.hub.mu.Lock()
	defer ep.hub.mu.Unlock()
	ep.deliver = d
}

// SetOnline takes the endpoint off or back on the network. Entries for it
// queue up while it is offline.
func (ep *Endpoint) SetOnline(on bool) {
	ep.hub.mu.Lock()
	defer ep.hub.mu.Unlock()
	ep.online = on
	ep.hub.wake()
}

// Join subscribes to a topic and queues its backlog. The in-process network
// checks nothing, so it ignores the replication key, and it carries a
// group on one channel whatever its networks (epochs): it stands in for
// delivery, not for who the network lets in (net/p2p tests that).
func (ep *Endpoint) Join(topic, _ [32]byte, _ [][32]byte) {
	h := ep.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ep.topics[topic] {
		return
	}
	ep.topics[topic] = true
	for _, raw := range h.log[topic] {
		ep.enqueue(topic, raw)
	}
	h.wake()
}

// Publish queues entries for every other endpoint in the topic.
func (ep *Endpoint) Publish(topic [32]byte, raws [][]byte) {
	h := ep.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log[topic] = append(h.log[topic], raws...)
	for _, o := range h.eps {
		if o == ep || !o.topics[topic] {
			continue
		}
		for _, raw := range raws {
			o.enqueue(topic, raw)
			if h.rng.Float64() < h.dup {
				o.enqueue(topic, raw)
			}
		}
	}
	h.wake()
}

// Pending returns how many entries wait for delivery to online endpoints.
func (h *Hub) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pendingLocked()
}

// Delivered returns how many entries the hub has delivered.
func (h *Hub) Delivered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delivered
}

// Step delivers a batch of random size to one random online endpoint, in
// the endpoint's delivery order. It reports whether it delivered.
func (h *Hub) Step() (bool, error) {
	h.mu.Lock()
	var ready []*Endpoint
	for _, ep := range h.eps {
		if ep.online && len(ep.queue) > 0 {
			ready = append(ready, ep)
		}
	}
	if len(ready) == 0 {
		h.mu.Unlock()
		return false, nil
	}
	ep := ready[h.rng.IntN(len(ready))]
	b := ep.take(1 + h.rng.IntN(min(h.max, len(ep.queue))))
	d := ep.deliver
	h.mu.Unlock()
	return true, b.deliver(d)
}

// batch is entries taken from a queue, grouped by topic in the order the
// topics first appear.
type batch struct {
	topics [][32]byte
	raws   map[[32]byte][][]byte
}

// take pops n entries in delivery order; the hub's lock is held.
func (ep *Endpoint) take(n int) batch {
	b := batch{raws: map[[32]byte][][]byte{}}
	for range n {
		it := heap.Pop(&ep.queue).(item)
		if b.raws[it.topic] == nil {
			b.topics = append(b.topics, it.topic)
		}
		b.raws[it.topic] = append(b.raws[it.topic], it.raw)
	}
	ep.hub.delivered += n
	return b
}

// deliver hands the batch to d, topic by topic, without the hub's lock.
func (b batch) deliver(d Deliver) error {
	for _, t := range b.topics {
		if err := d(t, b.raws[t]); err != nil {
			return err
		}
	}
	return nil
}

// Run delivers until no online endpoint has anything queued.
func (h *Hub) Run() error {
	for {
		ok, err := h.Step()
		if err != nil || !ok {
			return err
		}
	}
}
