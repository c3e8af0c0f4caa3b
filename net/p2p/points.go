package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/berty-go/berty/core/rendezvous"
)

// ProtocolPoints is the stream protocol of rendezvous points (§11.4): the
// dialer writes the point it looks for with its proof of holding the
// point's key, and a host that serves that point runs a short exchange of
// frames on the same stream (a contact request or a device link); any other
// host resets the stream.
const ProtocolPoints = protocol.ID("/berty/rendezvous/2.0.0")

// Limits of point exchanges: frame size, frames per exchange, whole
// exchange duration, the wait for any one frame (and for the point that
// opens a stream), exchanges served at once, and at once for one peer.
const (
	MaxPointFrame            = 2048
	maxPointFrames           = 8
	PointTimeout             = 10 * time.Second
	PointFrameTimeout        = 3 * time.Second
	maxPointExchanges        = 16
	maxPointExchangesPerPeer = 2
)

// ErrNotFound is returned by Reach when no peer serving the points was found
// or none completed the exchange.
var ErrNotFound = errors.New("no peer answered at the rendezvous point")

// Exchange is one stream at a rendezvous point: size-limited frames, a
// bounded number of them, a deadline for each and for the whole exchange.
type Exchange struct {
	s        network.Stream
	frames   int
	deadline time.Time // of the whole exchange
}

// newExchange starts an exchange on s that must end within PointTimeout.
func newExchange(s network.Stream) *Exchange {
	e := &Exchange{s: s, deadline: time.Now().Add(PointTimeout)}
	s.SetDeadline(e.deadline)
	return e
}

// Write sends one frame.
func (e *Exchange) Write(b []byte) error {
	if len(b) > MaxPointFrame {
		return fmt.Errorf("frame of %d bytes, limit %d", len(b), MaxPointFrame)
	}
	if e.frames++; e.frames > maxPointFrames {
		return errors.New("too many frames in one exchange")
	}
	buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(b)), uint16(len(b)))
	_, err := e.s.Write(append(buf, b...))
	return err
}

// Read receives one frame; a frame over MaxPointFrame is an error before
// anything is read into memory.
func (e *Exchange) Read() ([]byte, error) {
	if e.frames++; e.frames > maxPointFrames {
		return nil, errors.New("too many frames in one exchange")
	}
	// A peer that trickles or stalls holds the stream PointFrameTimeout
	// at most per frame.
	if d := time.Now().Add(PointFrameTimeout); d.Before(e.deadline) {
		e.s.SetReadDeadline(d)
	} else {
		e.s.SetReadDeadline(e.deadline)
	}
	var h [2]byte
	if _, err := io.ReadFull(e.s, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[:]))
	if n > MaxPointFrame {
		return nil, fmt.Errorf("frame of %d bytes, limit %d", n, MaxPointFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(e.s, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Call sends one frame and receives the answer: one step of a handshake.
func (e *Exchange) Call(b []byte) ([]byte, error) {
	if err := e.Write(b); err != nil {
		return nil, err
	}
	return e.Read()
}

// Peer is the peer on the other end.
func (e *Exchange) Peer() peer.ID { return e.s.Conn().RemotePeer() }

// PointHandler runs the exchange of a stream that came for a served point.
// An error is counted as a refusal (PointRefused).
type PointHandler func(ctx context.Context, point [32]byte, e *Exchange) error

// PointKey is the secret a point derives from (rendezvous.At): a dialer
// proves it holds it (rendezvous.Proof) before a host gives it a slot.
type PointKey struct {
	Key   []byte
	Label string
}

// Served is a point a host serves: its key and the handler of its
// exchanges.
type Served struct {
	PointKey
	Handle PointHandler
}

// points is the host's served points and what it announces.
type points struct {
	mu      sync.Mutex // guards served, busy, perPeer and the announce loop's start
	served  map[[32]byte]Served
	wake    chan struct{}
	busy    int             // exchanges served now
	perPeer map[peer.ID]int // of them, per peer
	started bool
}

// acquire takes a slot for an exchange with p, if one is free: at most
// maxPointExchanges at once, maxPointExchangesPerPeer of them for one peer.
func (p *points) acquire(from peer.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy >= maxPointExchanges || p.perPeer[from] >= maxPointExchangesPerPeer {
		return false
	}
	if p.perPeer == nil {
		p.perPeer = map[peer.ID]int{}
	}
	p.busy++
	p.perPeer[from]++
	return true
}

func (p *points) release(from peer.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy--
	if p.perPeer[from]--; p.perPeer[from] == 0 {
		delete(p.perPeer, from)
	}
}

// ServePoints replaces the set of points this host serves with handlers:
// streams for other points are reset. The points are also announced on
// the DHT (when it runs) and re-announced every RendezvousEvery; neighbours
// (static peers, mDNS peers, group peers) reach them by asking directly.
func (x *Host) ServePoints(served map[[32]byte]Served) {
	p := &x.points
	p.mu.Lock()
	p.served = served
	if !p.started && x.dht != nil {
		p.started = true
		x.wg.Go(x.announcePoints)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (x *Host) servedPoint(point [32]byte) (Served, bool) {
	x.points.mu.Lock()
	defer x.points.mu.Unlock()
	s, ok := x.points.served[point]
	return s, ok
}

func (x *Host) announcePoints() {
	for {
		x.points.mu.Lock()
		var pts [][32]byte
		for pt := range x.points.served {
			pts = append(pts, pt)
		}
		x.points.mu.Unlock()
		ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
		select { // nowhere to announce before the routing table has a peer
		case <-x.routable:
			for _, pt := range pts {
				if err := x.dht.Provide(ctx, pointCID(pt), true); err != nil {
					x.log.Debug("dht: provide a point failed", "err", err)
				}
			}
		case <-ctx.Done():
		}
		cancel()
		select {
		case <-x.ctx.Done():
			return
		case <-x.points.wake:
		case <-time.After(x.cfg.RendezvousEvery):
		}
	}
}

// servePoint answers a stream at a rendezvous point. The point and its
// proof come first, within PointFrameTimeout, and take no slot: only an
// exchange for a point this host serves, from a peer that proves it holds
// the point's key, does. A peer that opens streams and sends nothing, names
// made-up points, or learnt a point without its key (anyone asked for it
// does) keeps no one else out, however many identities it makes; and one
// peer holds at most maxPointExchangesPerPeer slots.
func (x *Host) servePoint(s network.Stream) {
	from := s.Conn().RemotePeer()
	e := newExchange(s)
	first, err := e.Read()
	if err != nil || len(first) != 32+rendezvous.ProofSize {
		x.observe(PointRefused, from)
		s.Reset()
		return
	}
	point := [32]byte(first[:32])
	sv, ok := x.servedPoint(point)
	if !ok {
		s.Reset()
		return
	}
	if !rendezvous.CheckProof(sv.Key, sv.Label, point, []byte(from), []byte(x.h.ID()), first[32:]) {
		x.observe(PointRefused, from)
		s.Reset()
		return
	}
	h := sv.Handle
	if !x.points.acquire(from) {
		s.Reset() // busy: the dialer retries later
		return
	}
	defer x.points.release(from)
	ctx, cancel := context.WithDeadline(x.ctx, e.deadline)
	defer cancel()
	if err := h(ctx, point, e); err != nil {
		x.log.Debug("rendezvous: exchange refused", "peer", s.Conn().RemotePeer(), "err", err)
		x.observe(PointRefused, s.Conn().RemotePeer())
		s.Reset()
		return
	}
	s.Close()
}

// Reach looks for a peer serving one of the points of key — first among the
// peers this host is connected to, then on the DHT — and runs fn on a
// stream to it, after sending the point and the proof that this host holds
// key. It returns nil after the first exchange that fn completes, fn's
// error if fn fails for a reason other than the peer not serving the point,
// or ErrNotFound.
func (x *Host) Reach(ctx context.Context, key PointKey, pts [][32]byte, fn func(point [32]byte, e *Exchange) error) error {
	try := func(p peer.ID, point [32]byte) (done bool, err error) {
		sctx, cancel := context.WithTimeout(ctx, PointTimeout)
		defer cancel()
		s, err := x.h.NewStream(network.WithAllowLimitedConn(sctx, "berty-rendezvous"), p, ProtocolPoints)
		if err != nil {
			return false, nil
		}
		defer s.Close()
		e := newExchange(s)
		proof := rendezvous.Proof(key.Key, key.Label, point, []byte(x.h.ID()), []byte(p))
		if err := e.Write(append(point[:], proof[:]...)); err != nil {
			s.Reset()
			return false, nil
		}
		if err := fn(point, e); err != nil {
			s.Reset()
			if errors.Is(err, network.ErrReset) || errors.Is(err, io.EOF) {
				return false, nil // not served there
			}
			return false, err
		}
		return true, nil
	}
	var firstErr error
	for _, p := range x.h.Network().Peers() {
		for _, point := range pts {
			done, err := try(p, point)
			if done {
				return nil
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if x.dht != nil {
		for _, point := range pts {
			for ai := range x.dht.FindProvidersAsync(ctx, pointCID(point), 8) {
				if ai.ID == x.h.ID() {
					continue
				}
				if x.h.Network().Connectedness(ai.ID) != network.Connected {
					if err := x.h.Connect(ctx, ai); err != nil {
						continue
					}
				}
				done, err := try(ai.ID, point)
				if done {
					return nil
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrNotFound
}

// PeerConnected returns a channel that receives (without blocking the
// host) whenever a new peer connects, until stop is called or the host
// closes: the moment to retry what waited for someone to reach. The
// channel has room for one wake-up; missed ones collapse into it.
func (x *Host) PeerConnected() (ch <-chan struct{}, stop func(), err error) {
	sub, err := x.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return nil, nil, err
	}
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	x.wg.Go(func() {
		defer sub.Close()
		for {
			select {
			case <-x.ctx.Done():
				return
			case <-done:
				return
			case ev := <-sub.Out():
				if e, ok := ev.(event.EvtPeerConnectednessChanged); ok && (e.Connectedness == network.Connected || e.Connectedness == network.Limited) {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	})
	var once sync.Once
	return out, func() { once.Do(func() { close(done) }) }, nil
}
