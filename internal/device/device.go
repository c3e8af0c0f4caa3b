// Package device wires one running device: its SQLite store, its node and
// its libp2p host, in the order they depend on each other. The demo, the
// bench and the daemon use it; tests use it to run real devices on loopback.
package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/internal/fsync"
	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/atrest"
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
	// OnChange, if set, is called when the network side changes something
	// a user sees that the node does not report itself: a contact request
	// arrived or was delivered, a try failed.
	OnChange func()
	// RetryMin and RetryMax bound the backoff between tries of an outgoing
	// contact request (zero: 1 s and 1 min).
	RetryMin, RetryMax time.Duration
	// Passphrase gives the passphrase that seals the database's data key
	// (docs/protocol.md §8.1); nil: none can be asked (a new database is
	// then unprotected, a locked one refuses to open).
	Passphrase atrest.PassFunc
	// RequirePassphrase refuses a key file that has no passphrase: the user
	// gave one explicitly, so an unprotected key file was swapped in (or the
	// passphrase removed): ErrUnprotectedKey.
	RequirePassphrase bool
	// Plaintext keeps the database unencrypted (benchmarks compare both;
	// tools that read the file with the sqlite3 shell). An encrypted
	// database does not open with it.
	Plaintext bool
	// NoMessenger leaves out the messenger's tables and projection (the
	// protocol alone: what `berty bench --layer protocol` measures).
	NoMessenger bool
}

// Device is a running device. Close it.
type Device struct {
	Store *sqlite.Store
	// AtRest says what protects the database's key (Unprotected also when
	// Config.Plaintext is set: then the database itself is in clear).
	AtRest    atrest.Kind
	Node      *node.Node
	Host      *p2p.Host
	Messenger *messenger.Messenger // nil with Config.NoMessenger

	cfg      Config
	contacts *contacts
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

// Open opens the store, the node (creating the account if the store is new)
// and the host, attaches them and starts serving.
func Open(cfg Config) (*Device, error) {
	cfg = defaults(cfg)
	st, atRest, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	var msgr *messenger.Messenger
	if !cfg.NoMessenger {
		if msgr, err = openMessenger(st, &cfg.Node); err != nil {
			st.Close()
			return nil, err
		}
	}
	nc := cfg.Node
	nc.Store, nc.Name = st, cfg.Name
	closeMessenger := func() {
		if msgr != nil {
			msgr.Close()
		}
	}
	n, err := node.Open(nc)
	if err != nil {
		closeMessenger()
		st.Close()
		return nil, err
	}
	hc := cfg.Net
	hc.Seed = n.PeerSeed()
	h, err := openHost(st, hc)
	if err != nil {
		n.Close()
		closeMessenger()
		st.Close()
		return nil, err
	}
	d := &Device{Store: st, AtRest: atRest, Node: n, Host: h, Messenger: msgr, cfg: cfg, cancel: func() {}}
	if err := d.start(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// ErrUnprotectedKey: a passphrase was given, but the key file has none.
var ErrUnprotectedKey = errors.New("a passphrase was given, but the data directory's key file has none: if no one ran `berty passphrase --remove`, the key file (and the database with it) was replaced; to set a passphrase, run `berty passphrase`")

// OpenStore opens the store of cfg.Path as Open does, without the node:
// for tools and tests that read a closed device's database.
func OpenStore(cfg Config) (*sqlite.Store, error) {
	st, _, err := openStore(cfg)
	return st, err
}

// openStore unlocks the data key and opens the encrypted store with it
// (converting a plaintext database from an older version in place).
func openStore(cfg Config) (*sqlite.Store, atrest.Kind, error) {
	if cfg.Plaintext {
		st, err := sqlite.Open(cfg.Path)
		return st, atrest.Unprotected, err
	}
	file, err := sqlite.FileKind(cfg.Path)
	if err != nil {
		return nil, 0, err
	}
	_, hasKey, err := atrest.Status(cfg.Path)
	if err != nil {
		return nil, 0, err
	}
	newMark := cfg.Path + ".new"
	_, markErr := os.Stat(newMark)
	switch {
	case !hasKey && file == sqlite.KindEmpty:
		// A new database: mark it new before its key exists, so that a
		// crash before it is made does not read as a lost database.
		if err := os.WriteFile(newMark, nil, 0o600); err != nil {
			return nil, 0, err
		}
		if err := fsync.Sync(filepath.Dir(cfg.Path)); err != nil {
			return nil, 0, err
		}
	case hasKey && file == sqlite.KindEmpty && markErr != nil:
		// Not a new account: the database was lost or emptied.
		return nil, 0, fmt.Errorf("%s is missing or empty but its key file %s is there: restore the database from where you copied the directory (or, to start a new account, remove the key file)", cfg.Path, atrest.KeyPath(cfg.Path))
	case !hasKey && file == sqlite.KindEncrypted:
		return nil, 0, fmt.Errorf("%s: %w", cfg.Path, atrest.ErrNoKeyFile)
	case !hasKey && file == sqlite.KindPlain:
		// A database from before encryption at rest: mark it for the
		// conversion before its key exists (sqlite.MarkForEncryption).
		if err := sqlite.MarkForEncryption(cfg.Path); err != nil {
			return nil, 0, err
		}
	}
	key, kind, err := atrest.Unlock(cfg.Path, cfg.Passphrase)
	if err != nil {
		if !hasKey && file == sqlite.KindEmpty {
			os.Remove(newMark) // no key was made: nothing to mark
		}
		return nil, 0, err
	}
	if cfg.RequirePassphrase && kind == atrest.Unprotected {
		clear(key[:])
		return nil, 0, ErrUnprotectedKey
	}
	defer clear(key[:])
	st, err := sqlite.OpenWith(cfg.Path, sqlite.Options{Key: key})
	if err != nil {
		return nil, 0, err
	}
	if markErr == nil || file == sqlite.KindEmpty {
		if err := os.Remove(newMark); err != nil && !errors.Is(err, os.ErrNotExist) {
			st.Close()
			return nil, 0, err
		}
	}
	return st, kind, nil
}

// openHost starts the host on the listen ports and with the peers the
// device remembers (netmem.go); on other ports if those are taken now.
func openHost(st *sqlite.Store, hc p2p.Config) (*p2p.Host, error) {
	mem, err := loadNet(st)
	if err != nil {
		return nil, err
	}
	listen := hc.Listen
	if listen == nil {
		listen = p2p.DefaultListen
	}
	hc.Known = append(hc.Known, knownPeers(mem.Peers)...)
	hc.Listen = withRemembered(listen, mem.Listen)
	if err := p2p.CheckListen(hc.Listen); err != nil {
		if hc.Logger != nil {
			hc.Logger.Warn("a port of the last run is taken: listening on new ones (contacts find this device again through the DHT, the infra nodes or the addresses they remember)", "err", err)
		}
		hc.Listen = listen
	}
	return p2p.New(hc)
}

func defaults(cfg Config) Config {
	if cfg.RetryMin == 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.Node.Now == nil {
		cfg.Node.Now = time.Now
	}
	if cfg.Net.Now == nil {
		cfg.Net.Now = cfg.Node.Now
	}
	return cfg
}

// start attaches the node to the host and starts the device's loops.
func (d *Device) start() error {
	n, h := d.Node, d.Host
	if d.Messenger != nil {
		d.Messenger.Attach(n)
	}
	d.contacts = newContacts(d)
	if err := n.Attach(h); err != nil {
		return err
	}
	if err := h.Serve(func(topic [32]byte, raws [][]byte) (p2p.Delivered, error) {
		s, err := n.Receive(topic, raws)
		if topic == n.AccountTopic() && s.Appended > 0 {
			d.contacts.kick() // maybe a new seed or a request from another device
		}
		if d.cfg.OnReceive != nil {
			d.cfg.OnReceive()
		}
		return p2p.Delivered{Appended: s.Appended, Waiting: s.Held > 0 || s.Refused > 0}, err
	}, n); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	connected, _, err := h.PeerConnected() // for the device's life: the host's Close ends it
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() { d.contacts.run(ctx, connected) })
	d.wg.Go(func() { d.rememberLoop(ctx) })
	return nil
}

// rememberLoop records the device's network every rememberEvery.
func (d *Device) rememberLoop(ctx context.Context) {
	if err := d.rememberNet(); err != nil {
		d.logNet(err)
	}
	t := time.NewTicker(rememberEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.rememberNet(); err != nil {
				d.logNet(err)
			}
		}
	}
}

func (d *Device) logNet(err error) {
	if l := d.cfg.Net.Logger; l != nil {
		l.Warn("could not record the network's addresses and peers", "err", err)
	}
}

// changed tells the application that something it shows changed.
func (d *Device) changed() {
	if d.Messenger != nil {
		d.Messenger.ContactsChanged()
	}
	if d.cfg.OnChange != nil {
		d.cfg.OnChange()
	}
}

// openMessenger installs the messenger on the store and chains its handlers
// before the node's configured callbacks.
func openMessenger(st *sqlite.Store, nc *node.Config) (*messenger.Messenger, error) {
	m, err := messenger.New(st, messenger.Config{Now: nc.Now})
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	deliver, events := m.Handlers()
	if prev := nc.Deliver; prev != nil {
		nc.Deliver = func(d node.Delivery) { deliver(d); prev(d) }
	} else {
		nc.Deliver = deliver
	}
	if prev := nc.Events; prev != nil {
		nc.Events = func(t [32]byte, ev replica.Event) { events(t, ev); prev(t, ev) }
	} else {
		nc.Events = events
	}
	return m, nil
}

// backoff is the wait after the n-th failed try (n ≥ 1).
func (d *Device) backoff(n int) time.Duration {
	b := d.cfg.RetryMin
	for i := 1; i < n && b < d.cfg.RetryMax; i++ {
		b *= 2
	}
	return min(b, d.cfg.RetryMax)
}

// Close stops the device's loops, then the host (no more input), then the
// node, then the store. It is idempotent.
func (d *Device) Close() error {
	d.once.Do(func() {
		d.cancel()
		d.wg.Wait()
		if err := d.rememberNet(); err != nil {
			d.logNet(err)
		}
		var merr error
		if d.Messenger != nil {
			merr = d.Messenger.Close()
		}
		d.closeErr = errors.Join(d.Host.Close(), d.Node.Close(), merr, d.Store.Close())
	})
	return d.closeErr
}
