// Command mdnsprobe is a test helper for TestMDNSInNamespaces: one device
// that finds its peer by mDNS only (no static peer, no DHT), becomes its
// contact, sends one message and waits for the peer's. Two of them run in two
// network namespaces joined by a veth pair. It exits 0 on success.
//
// Usage: mdnsprobe DIR NAME OTHER
// It writes DIR/NAME.key (its account key, hex) and reads DIR/OTHER.key.
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "mdnsprobe:", err)
		os.Exit(1)
	}
}

func run(dir, name, other string) error {
	var mu sync.Mutex
	got := make(chan string, 16)
	d, err := device.Open(device.Config{
		Path: filepath.Join(dir, name+".db"), Name: name,
		Net: p2p.Config{Listen: []string{"/ip4/0.0.0.0/tcp/0"}, MDNS: true, SyncInterval: 2 * time.Second},
		Node: node.Config{Deliver: func(dl node.Delivery) {
			if !dl.Message.Own {
				mu.Lock()
				got <- string(dl.Message.Body)
				mu.Unlock()
			}
		}},
	})
	if err != nil {
		return err
	}
	defer d.Close()
	k := d.Node.AccountKey()
	// Write then rename, so the other process never reads half a key.
	tmp := filepath.Join(dir, name+".key.tmp")
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(k[:])), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".key")); err != nil {
		return err
	}
	deadline := time.After(60 * time.Second)
	keyFile := filepath.Join(dir, other+".key")
	if err := waitFile(keyFile, deadline); err != nil {
		return err
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	kb, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(kb) != 32 {
		return fmt.Errorf("bad key file from %s", other)
	}
	var peerKey keys.Public
	copy(peerKey[:], kb)
	topic, err := d.Node.AddContact(peerKey, other)
	if err != nil {
		return err
	}
	if _, err := d.Node.Send(topic, []byte("hello from "+name)); err != nil {
		return err
	}
	select {
	case m := <-got:
		if m != "hello from "+other {
			return fmt.Errorf("got %q", m)
		}
		fmt.Printf("%s: got %q over mDNS (%d peers)\n", name, m, len(d.Host.Peers()))
	case <-deadline:
		return fmt.Errorf("nothing from %s within 60 s (%d peers found)", other, len(d.Host.Peers()))
	}
	// Stay up until the other side has our message too.
	if err := os.WriteFile(filepath.Join(dir, name+".done"), nil, 0o600); err != nil {
		return err
	}
	return waitFile(filepath.Join(dir, other+".done"), deadline)
}

// waitFile waits for another process to create a file.
func waitFile(path string, deadline <-chan time.Time) error {
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
