package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/rendezvous"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/net/p2p"
)

// RequestStatus is where an outgoing contact request stands on this device:
// what a user sees while a request waits for the other side to come online.
type RequestStatus struct {
	Account   keys.Public
	Name      string
	Attempts  int
	LastError string    // empty before the first failure
	NextTry   time.Time // zero while a try runs or is due
}

// contacts runs this device's side of contact requests (§11): it serves the
// account's current rendezvous points and sends the pending outgoing
// requests, retrying with backoff.
type contacts struct {
	d    *Device
	wake chan struct{}

	mu     sync.Mutex // guards status and served
	status map[keys.Public]*RequestStatus
	served []rendezvous.Point
}

func newContacts(d *Device) *contacts {
	return &contacts{d: d, wake: make(chan struct{}, 1), status: map[keys.Public]*RequestStatus{}}
}

// kick wakes the loop (new request, new seed, account group changed).
func (c *contacts) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *contacts) now() time.Time { return c.d.cfg.Node.Now() }

// run serves and sends until ctx ends. It wakes on a kick, on a new peer
// connection (maybe the responder), at the next retry and every minute (a
// new rendezvous period).
func (c *contacts) run(ctx context.Context, connected <-chan struct{}) {
	for {
		c.serve()
		next := c.send(ctx)
		wait := time.Minute
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(c.now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.wake:
		case <-connected:
			c.retryNow() // the new peer may be the one a request waits for
		case <-t.C:
		}
		t.Stop()
	}
}

// serve points the host at the current rendezvous points of the account's
// seed (none before the first link is made).
func (c *contacts) serve() {
	seed, ok := c.d.Node.RendezvousSeed()
	var pts []rendezvous.Point
	if ok {
		pts, _ = rendezvous.Current(seed[:], rendezvous.LabelContact, uint64(c.now().Unix()))
	}
	c.mu.Lock()
	same := len(pts) == len(c.served)
	for i := range pts {
		same = same && pts[i] == c.served[i]
	}
	c.served = pts
	c.mu.Unlock()
	if same {
		return
	}
	handlers := map[[32]byte]p2p.Served{}
	for _, pt := range pts {
		handlers[pt] = p2p.Served{PointKey: p2p.PointKey{Key: seed[:], Label: rendezvous.LabelContact}, Handle: c.respond}
	}
	c.d.Host.ServePoints(handlers)
}

// respond answers one contact request at a served point.
func (c *contacts) respond(_ context.Context, point [32]byte, e *p2p.Exchange) error {
	r, err := c.d.Node.NewResponder(point)
	if err != nil {
		return err
	}
	msg, err := e.Read()
	if err != nil {
		return err
	}
	if msg, err = r.Reply(msg); err != nil {
		return err
	}
	if msg, err = e.Call(msg); err != nil {
		return err
	}
	card, err := r.Card(msg)
	if err != nil {
		return err
	}
	st, err := c.d.Node.IncomingRequest(card)
	if err != nil {
		return err
	}
	if st == handshake.StatusReceived {
		c.d.changed()
	}
	if msg, err = r.Status(st); err != nil {
		return err
	}
	return e.Write(msg)
}

// send tries every outgoing request that is due and returns when the next
// one is (zero: none waits).
func (c *contacts) send(ctx context.Context) (next time.Time) {
	pending := c.d.Node.Outgoing()
	c.mu.Lock()
	keep := map[keys.Public]*RequestStatus{}
	for _, o := range pending {
		s := c.status[o.Account]
		if s == nil {
			s = &RequestStatus{Account: o.Account, Name: o.Name}
		}
		keep[o.Account] = s
	}
	c.status = keep
	c.mu.Unlock()
	for _, o := range pending {
		c.mu.Lock()
		s := c.status[o.Account]
		due := !s.NextTry.After(c.now())
		c.mu.Unlock()
		if !due {
			if next.IsZero() || s.NextTry.Before(next) {
				next = s.NextTry
			}
			continue
		}
		err := c.request(ctx, o)
		c.mu.Lock()
		s.Attempts++
		if err == nil {
			delete(c.status, o.Account)
		} else {
			s.LastError = err.Error()
			s.NextTry = c.now().Add(c.d.backoff(s.Attempts))
			if next.IsZero() || s.NextTry.Before(next) {
				next = s.NextTry
			}
		}
		c.mu.Unlock()
		c.d.changed()
		if ctx.Err() != nil {
			return time.Time{}
		}
	}
	return next
}

// errBusy: the responder asked us to come back later.
var errBusy = errors.New("the other side is busy: will retry")

// request runs one attempt of an outgoing request.
func (c *contacts) request(ctx context.Context, o state.Contact) error {
	_, look := rendezvous.Current(o.Seed[:], rendezvous.LabelContact, uint64(c.now().Unix()))
	rctx, cancel := context.WithTimeout(ctx, 2*p2p.PointTimeout)
	defer cancel()
	var status handshake.Status
	key := p2p.PointKey{Key: o.Seed[:], Label: rendezvous.LabelContact}
	err := c.d.Host.Reach(rctx, key, look, func(point [32]byte, e *p2p.Exchange) error {
		r, err := c.d.Node.NewRequester(o.Account, point)
		if err != nil {
			return err
		}
		msg, err := r.Hello()
		if err != nil {
			return err
		}
		if msg, err = e.Call(msg); err != nil {
			return err
		}
		if msg, err = r.Answer(msg); err != nil {
			return err
		}
		if msg, err = e.Call(msg); err != nil {
			return err
		}
		status, err = r.Done(msg)
		return err
	})
	switch {
	case errors.Is(err, p2p.ErrNotFound):
		return errors.New("not reachable yet: the other side is offline or not announced")
	case err != nil:
		return fmt.Errorf("request failed: %w", err)
	case status == handshake.StatusBusy:
		return errBusy
	}
	return c.d.Node.RequestSent(o.Account)
}

// retryNow makes every waiting request due.
func (c *contacts) retryNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.status {
		s.NextTry = time.Time{}
	}
}

// Statuses returns the outgoing requests still waiting, with their tries.
func (c *contacts) statuses() []RequestStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []RequestStatus
	for _, s := range c.status {
		out = append(out, *s)
	}
	return out
}

// ContactLink returns the account's contact link (made on first use) and
// starts answering it.
func (d *Device) ContactLink() (*link.Contact, error) {
	l, err := d.Node.ContactLink()
	d.contacts.kick()
	return l, err
}

// ResetContactLink replaces the link: old links stop working.
func (d *Device) ResetContactLink() (*link.Contact, error) {
	l, err := d.Node.ResetContactLink()
	d.contacts.kick()
	return l, err
}

// RequestContact records a request to a contact link's account and sends
// it in the background, retrying until the other side has received it.
func (d *Device) RequestContact(l *link.Contact) (state.ContactState, error) {
	st, err := d.Node.RequestContact(l)
	d.contacts.kick()
	return st, err
}

// Requests returns the outgoing requests still waiting to be delivered,
// with their attempts and last error.
func (d *Device) Requests() []RequestStatus { return d.contacts.statuses() }
