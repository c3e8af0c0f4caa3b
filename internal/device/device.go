// Package device wires one running device: its SQLite store, its node and
// its libp2p host, in the order they depend on each other. The demo, the
// bench and the daemon use it; tests use it to run real devices on loopback.
package device

import (
	"errors"
	"fmt"

	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// Config configures a device.
type Config struct {
	// Path is the SQLite database file (created if missing).
	Path string
	// Name is the display name of a new account.
	Name string
	// Net configures the libp2p host; its Seed is filled in from the node.
	Net p2p.Config
	// Node receives the node's callbacks (Deliver, Events, Now, rotation);
	// its Store and Transport are set here.
	Node node.Config
	// OnReceive, if set, is called after every batch the node ingests.
	OnReceive func()
}

// Device is a running device. Close it.
type Device struct {
	Store *sqlite.Store
	Node  *node.Node
	Host  *p2p.Host
}

// Open opens the store, the node (creating the account if the store is new)
// and the host, attaches them and starts serving.
func Open(cfg Config) (*Device, error) {
	st, err := sqlite.Open(cfg.Path)
	if err != nil {
		return nil, err
	}
	nc := cfg.Node
	nc.Store, nc.Name = st, cfg.Name
	n, err := node.Open(nc)
	if err != nil {
		st.Close()
		return nil, err
	}
	hc := cfg.Net
	hc.Seed = n.PeerSeed()
	h, err := p2p.New(hc)
	if err != nil {
		n.Close()
		st.Close()
		return nil, err
	}
	d := &Device{Store: st, Node: n, Host: h}
	if err := n.Attach(h); err != nil {
		d.Close()
		return nil, err
	}
	if err := h.Serve(func(topic [32]byte, raws [][]byte) (p2p.Delivered, error) {
		s, err := n.Receive(topic, raws)
		if cfg.OnReceive != nil {
			cfg.OnReceive()
		}
		return p2p.Delivered{Appended: s.Appended, Waiting: s.Held > 0 || s.Refused > 0}, err
	}, n); err != nil {
		d.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	return d, nil
}

// Close stops the host first (no more input), then the node, then the store.
// It is idempotent.
func (d *Device) Close() error {
	return errors.Join(d.Host.Close(), d.Node.Close(), d.Store.Close())
}
