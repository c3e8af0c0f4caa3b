package memnet

import "sync"

// Start delivers concurrently from now on: one goroutine per endpoint takes
// whatever its queue holds (up to the batch bound, in delivery order) and
// delivers it, as separate devices do in parallel. Step and Run must not be
// used while started. Stop ends the goroutines; Start and Stop are the
// caller's to pair.
func (h *Hub) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cond == nil {
		h.cond = sync.NewCond(&h.mu)
	}
	h.started, h.stopping, h.err = true, false, nil
	for _, ep := range h.eps {
		h.wg.Go(func() { h.serve(ep) })
	}
}

func (h *Hub) serve(ep *Endpoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for !h.stopping && (!ep.online || len(ep.queue) == 0) {
			h.cond.Wait()
		}
		if h.stopping {
			return
		}
		b := ep.take(min(h.max, len(ep.queue)))
		h.busy++
		d := ep.deliver
		h.mu.Unlock()
		err := b.deliver(d)
		h.mu.Lock()
		h.busy--
		if err != nil && h.err == nil {
			h.err = err
		}
		h.cond.Broadcast()
	}
}

// Wait blocks until no online endpoint has anything queued and no delivery
// is in flight (started mode), and returns the first delivery error.
func (h *Hub) Wait() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.err == nil && (h.busy > 0 || h.pendingLocked() > 0) {
		h.cond.Wait()
	}
	return h.err
}

// Stop ends the delivery goroutines and waits for them.
func (h *Hub) Stop() {
	h.mu.Lock()
	h.stopping = true
	h.started = false
	h.cond.Broadcast()
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *Hub) pendingLocked() int {
	n := 0
	for _, ep := range h.eps {
		if ep.online {
			n += len(ep.queue)
		}
	}
	return n
}

// wake tells delivery goroutines that queues changed; mu is held.
func (h *Hub) wake() {
	if h.started {
		h.cond.Broadcast()
	}
}
