// Command mdnsprobe is a test helper for TestMDNSInNamespaces: one device
// that finds its peer by mDNS only (no static peer, no DHT). Device "a"
// shares its contact link; device "b" requests it, "a" accepts, and each
// sends one message and waits for the other's. Two of them run in two
// network namespaces joined by a veth pair. It exits 0 on success.
//
// Usage: mdnsprobe DIR NAME OTHER
// Device a writes its contact link to DIR/a.link; b reads it.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/wait"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "mdnsprobe:", err)
		os.Exit(1)
	}
}

func run(dir, name, other string) error {
	var w wait.Cond
	d, err := device.Open(device.Config{
		Path: filepath.Join(dir, name+".db"), Name: name,
		Net:       p2p.Config{Listen: []string{"/ip4/0.0.0.0/tcp/0"}, MDNS: true, SyncInterval: 2 * time.Second},
		Node:      node.Config{Deliver: func(node.Delivery) { w.Signal() }, Events: func([32]byte, replica.Event) { w.Signal() }},
		OnReceive: w.Signal, OnChange: w.Signal,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadline := ctx.Done()
	var peer keys.Public
	if name == "a" {
		l, err := d.ContactLink()
		if err != nil {
			return err
		}
		// Write then rename, so the other process never reads half a link.
		tmp := filepath.Join(dir, "a.link.tmp")
		if err := os.WriteFile(tmp, []byte(l.URL()), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "a.link")); err != nil {
			return err
		}
		if err := w.Until(ctx, func() bool {
			for _, c := range d.Node.Contacts() {
				if c.State == state.ContactIncoming && c.Name == other {
					peer = c.Account
					return true
				}
			}
			return false
		}); err != nil {
			return fmt.Errorf("no request from %s within 60 s (%d peers found)", other, len(d.Host.Peers()))
		}
		if err := d.Node.AcceptContact(peer); err != nil {
			return err
		}
	} else {
		if err := waitFile(filepath.Join(dir, "a.link"), deadline); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, "a.link"))
		if err != nil {
			return err
		}
		l, err := link.ParseContact(strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		peer = l.Account
		if _, err := d.RequestContact(l); err != nil {
			return err
		}
	}
	accepted := func() bool {
		for _, c := range d.Node.Contacts() {
			if c.Account == peer && c.State == state.ContactAccepted {
				return true
			}
		}
		return false
	}
	if err := w.Until(ctx, accepted); err != nil {
		return fmt.Errorf("%s never became a contact (requests: %+v)", other, d.Requests())
	}
	acc, err := d.Store.Account()
	if err != nil {
		return err
	}
	g, err := group.Contact(keys.FromSeed(acc.AccountSeed), peer)
	if err != nil {
		return err
	}
	topic := g.Keys.Topic
	if _, err := d.Node.Send(topic, []byte("hello from "+name)); err != nil {
		return err
	}
	if err := w.Until(ctx, func() bool {
		ms, err := d.Node.Messages(topic, store.Cursor{}, 100)
		return err == nil && slices.ContainsFunc(ms, func(m store.Message) bool { return string(m.Body) == "hello from "+other })
	}); err != nil {
		return fmt.Errorf("nothing from %s within 60 s (%d peers found)", other, len(d.Host.Peers()))
	}
	fmt.Printf("%s: contact request and chat with %s over mDNS (%d peers)\n", name, other, len(d.Host.Peers()))
	// Stay up until the other side has our message too.
	if err := os.WriteFile(filepath.Join(dir, name+".done"), nil, 0o600); err != nil {
		return err
	}
	return waitFile(filepath.Join(dir, other+".done"), deadline)
}

// waitFile waits for another process to create a file.
func waitFile(path string, deadline <-chan struct{}) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-deadline:
			return fmt.Errorf("%s never appeared", path)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
