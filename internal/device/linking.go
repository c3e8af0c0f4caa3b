package device

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/rendezvous"
	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// Device-linking errors.
var (
	ErrHasAccount  = errors.New("this data directory already holds an account: linking needs a new, empty one")
	ErrLinkExpired = errors.New("the device link has expired: show a new one on the new device")
)

// DefaultLinkTTL is how long a device link stays valid.
const DefaultLinkTTL = 10 * time.Minute

// LinkConfig configures Link.
type LinkConfig struct {
	Config
	// DeviceName is shown to the approving device (may be empty).
	DeviceName string
	// TTL is how long the link is valid (0: DefaultLinkTTL).
	TTL time.Duration
	// Show is called once with the link to display (text or QR).
	Show func(*link.Device)
}

// Link makes a new device of an existing account (§11.7): on an empty data
// directory it starts a host, shows a one-time link through cfg.Show, and
// waits until a device of the account approves it (Approve) or the link
// expires. It then stores the account secrets it received, opens the node —
// which announces this device in the account group, follows it into every
// contact and group — and returns the running device.
func Link(ctx context.Context, cfg LinkConfig) (*Device, error) {
	cfg.Config = defaults(cfg.Config)
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLinkTTL
	}
	st, _, err := openStore(cfg.Config)
	if err != nil {
		return nil, err
	}
	if _, err := st.Account(); err == nil {
		st.Close()
		return nil, ErrHasAccount
	} else if !errors.Is(err, store.ErrNoAccount) {
		st.Close()
		return nil, err
	}
	d, err := awaitLink(ctx, st, cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

func awaitLink(ctx context.Context, st *sqlite.Store, cfg LinkConfig) (*Device, error) {
	rnd := cfg.Node.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var acc store.Account
	var secret [32]byte
	if _, err := rnd.Read(acc.DeviceSeed[:]); err != nil {
		return nil, err
	}
	if _, err := rnd.Read(secret[:]); err != nil {
		return nil, err
	}
	key, err := ecdh.X25519().GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	now := cfg.Node.Now()
	expires := now.Add(cfg.TTL)
	l, err := link.NewDevice(secret, [32]byte(key.PublicKey().Bytes()), uint64(expires.Unix()), cfg.DeviceName)
	if err != nil {
		return nil, err
	}
	hc := cfg.Net
	hc.Seed = node.PeerSeedOf(acc.DeviceSeed)
	h, err := p2p.New(hc)
	if err != nil {
		return nil, err
	}
	granted := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex // serialises grants: the first one wins
	handler := func(_ context.Context, _ [32]byte, e *p2p.Exchange) error {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-granted:
			return errors.New("already linked")
		default:
		}
		j, err := handshake.NewJoiner(key, secret, rnd)
		if err != nil {
			return err
		}
		msg, err := e.Read()
		if err != nil {
			return err
		}
		if msg, err = j.Reply(msg, keys.FromSeed(acc.DeviceSeed).Public()); err != nil {
			return err
		}
		if msg, err = e.Call(msg); err != nil {
			return err
		}
		g, err := j.Receive(msg)
		if err != nil {
			return err
		}
		acc.AccountSeed, acc.Name = g.AccountSeed, g.Name
		if err := st.SetAccount(&acc); err != nil { // stored before we say so
			return fmt.Errorf("store the account: %w", err)
		}
		if msg, err = j.Ack(); err != nil {
			return err
		}
		once.Do(func() { close(granted) })
		return e.Write(msg)
	}
	serve := func() {
		pts, _ := rendezvous.Current(secret[:], rendezvous.LabelDeviceLink, uint64(cfg.Node.Now().Unix()))
		m := map[[32]byte]p2p.Served{}
		for _, p := range pts {
			m[p] = p2p.Served{PointKey: p2p.PointKey{Key: secret[:], Label: rendezvous.LabelDeviceLink}, Handle: handler}
		}
		h.ServePoints(m)
	}
	serve()
	if cfg.Show != nil {
		cfg.Show(l)
	}
	expiry := time.NewTimer(expires.Sub(now))
	defer expiry.Stop()
	tick := time.NewTicker(time.Minute) // a new rendezvous period
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-granted:
			waiting = false
		case <-ctx.Done():
			h.Close()
			return nil, ctx.Err()
		case <-expiry.C:
			h.Close()
			return nil, ErrLinkExpired
		case <-tick.C:
			serve()
		}
	}
	h.ServePoints(nil)
	nc := cfg.Node
	nc.Store = st
	var msgr *messenger.Messenger
	if !cfg.NoMessenger {
		if msgr, err = openMessenger(st, &nc); err != nil {
			h.Close()
			return nil, err
		}
	}
	n, err := node.Open(nc)
	if err != nil {
		h.Close()
		if msgr != nil {
			msgr.Close()
		}
		return nil, err
	}
	d := &Device{Store: st, Node: n, Host: h, Messenger: msgr, cfg: cfg.Config, cancel: func() {}}
	if err := d.start(); err != nil {
		d.cancel()
		d.wg.Wait()
		h.Close()
		n.Close()
		if msgr != nil {
			msgr.Close()
		}
		return nil, err
	}
	return d, nil
}

// Approve hands this account to the new device that shows l (§11.7). It
// looks for it at the link's rendezvous points until it answers, the link
// expires or ctx ends. Approving is trusting: the new device gets the
// account's secrets.
func (d *Device) Approve(ctx context.Context, l *link.Device) (keys.Public, error) {
	if d.Node.Revoked() {
		return keys.Public{}, node.ErrRevoked
	}
	expires := time.Unix(int64(l.Expires), 0)
	ctx, cancel := context.WithDeadline(ctx, expires)
	defer cancel()
	connected, stop, err := d.Host.PeerConnected()
	if err != nil {
		return keys.Public{}, err
	}
	defer stop()
	var approved keys.Public
	wait := d.cfg.RetryMin
	var failed error // the last handshake that a peer at the point failed
	for {
		if l.Expired(uint64(d.cfg.Node.Now().Unix())) {
			return keys.Public{}, ErrLinkExpired
		}
		_, look := rendezvous.Current(l.Secret[:], rendezvous.LabelDeviceLink, uint64(d.cfg.Node.Now().Unix()))
		key := p2p.PointKey{Key: l.Secret[:], Label: rendezvous.LabelDeviceLink}
		err := d.Host.Reach(ctx, key, look, func(_ [32]byte, e *p2p.Exchange) error {
			rnd := d.cfg.Node.Rand
			if rnd == nil {
				rnd = rand.Reader
			}
			a, err := handshake.NewApprover(l.Key, l.Secret, rnd)
			if err != nil {
				return err
			}
			msg, err := a.Hello()
			if err != nil {
				return err
			}
			if msg, err = e.Call(msg); err != nil {
				return err
			}
			if msg, err = a.Grant(msg, d.Node.LinkGrant()); err != nil {
				return err
			}
			// Approve the new device on the account group before it holds
			// the account: once it has synced, it finds its approval and
			// announces itself (§5.7).
			if err := d.Node.ApproveDevice(a.Device()); err != nil {
				return err
			}
			if msg, err = e.Call(msg); err != nil {
				return err
			}
			if err := a.Done(msg); err != nil {
				return err
			}
			approved = a.Device()
			return nil
		})
		switch {
		case err == nil:
			return approved, nil
		case errors.Is(err, handshake.ErrHandshake):
			// Any peer this host asks can answer at the point: one whose
			// answer fails the handshake is not the new device (it would
			// know the link's key), only someone in the way. Keep looking
			// until the link expires.
			failed = err
		case ctx.Err() != nil:
			if time.Now().After(expires) {
				if failed != nil {
					return keys.Public{}, fmt.Errorf("%w (a peer answered at the link's point but failed the handshake: it was not the new device: %v)", ErrLinkExpired, failed)
				}
				return keys.Public{}, ErrLinkExpired
			}
			return keys.Public{}, ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-connected:
		case <-t.C:
		}
		t.Stop()
		wait = min(wait*2, d.cfg.RetryMax)
	}
}

// RevokeDevice revokes another device of this account in every group.
func (d *Device) RevokeDevice(key [32]byte) error { return d.Node.RevokeDevice(key) }
