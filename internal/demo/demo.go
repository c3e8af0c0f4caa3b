// Package demo runs the README's demonstration: three accounts on real
// SQLite files exchanging entries through an in-process network that
// shuffles and duplicates them, through the whole group life cycle.
package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// Options configure a demo run.
type Options struct {
	Dir     string  // where the SQLite files go ("" : a temporary directory, removed after)
	Seed    uint64  // delivery-order seed
	Dup     float64 // probability of a duplicate delivery
	Burst   int     // messages in the closing burst (0: none)
	KeepDir bool    // keep a temporary directory for inspection
	Out     io.Writer
}

type peer struct {
	name  string
	st    *sqlite.Store
	n     *node.Node
	ep    *memnet.Endpoint
	path  string
	undec int
}

// Run runs the demo.
func Run(o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	w := o.Out
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "berty-demo-")
		if err != nil {
			return fmt.Errorf("make a temporary directory: %w", err)
		}
		dir = d
		if !o.KeepDir {
			defer os.RemoveAll(d)
		}
	}
	hub := memnet.New(o.Seed, o.Dup, 128)
	start := time.Now()
	var peers []*peer
	for _, name := range []string{"alice", "bob", "carol"} {
		p := &peer{name: name, path: filepath.Join(dir, name+".db")}
		if err := p.open(hub, nil); err != nil {
			return err
		}
		defer func() { p.n.Close(); p.st.Close() }()
		peers = append(peers, p)
	}
	alice, bob, carol := peers[0], peers[1], peers[2]
	fmt.Fprintf(w, "Berty demo: 3 accounts, SQLite files in %s\n", dir)
	fmt.Fprintf(w, "delivery: shuffled, %.0f%% duplicated, seed %d\n\n", o.Dup*100, o.Seed)
	for _, p := range peers {
		fmt.Fprintf(w, "  %-6s account %s…  device %s…\n", p.name, p.n.AccountKey(), p.n.DeviceKey())
	}

	step := func(title string) func() {
		t := time.Now()
		fmt.Fprintf(w, "\n== %s\n", title)
		return func() { fmt.Fprintf(w, "   (%s)\n", time.Since(t).Round(time.Microsecond)) }
	}
	run := func() error { return hub.Run() }

	done := step("alice and bob derive their contact group from each other's account key")
	ab, err := alice.n.AddContact(bob.n.AccountKey(), "bob")
	if err != nil {
		return err
	}
	ba, err := bob.n.AddContact(alice.n.AccountKey(), "alice")
	if err != nil {
		return err
	}
	if ab != ba {
		return fmt.Errorf("alice and bob derived different contact groups")
	}
	fmt.Fprintf(w, "   both derived group topic %x… with nothing exchanged\n", ab[:4])
	if _, err := alice.n.Send(ab, []byte("hi bob! this is end-to-end encrypted")); err != nil {
		return err
	}
	if _, err := bob.n.Send(ab, []byte("hi alice, loud and clear")); err != nil {
		return err
	}
	if err := run(); err != nil {
		return err
	}
	names := map[keys.Public]string{alice.n.AccountKey(): "alice", bob.n.AccountKey(): "bob", carol.n.AccountKey(): "carol"}
	if err := transcript(w, bob, ab, names); err != nil {
		return err
	}
	done()

	done = step("alice creates #climbing and invites bob and carol")
	gt, err := alice.n.CreateGroup("climbing")
	if err != nil {
		return err
	}
	inv, err := alice.n.Invite(gt)
	if err != nil {
		return err
	}
	raw := inv.Encode()
	fmt.Fprintf(w, "   invitation: %d bytes (a link or QR code in the contacts work)\n", len(raw))
	for _, p := range []*peer{bob, carol} {
		got, err := replica.DecodeInvitation(raw)
		if err != nil {
			return err
		}
		if _, err := p.n.Join(got); err != nil {
			return fmt.Errorf("%s joins: %w", p.name, err)
		}
	}
	if err := run(); err != nil {
		return err
	}
	for _, p := range peers {
		k, _ := p.n.MemberKey(gt)
		names[k] = p.name
	}
	for _, p := range peers {
		if _, err := p.n.Send(gt, []byte(fmt.Sprintf("%s here, ready for saturday", p.name))); err != nil {
			return fmt.Errorf("%s sends: %w", p.name, err)
		}
	}
	if err := run(); err != nil {
		return err
	}
	if err := transcript(w, carol, gt, names); err != nil {
		return err
	}
	done()

	done = step("bob restarts from his SQLite file")
	before, _ := bob.st.CountMessages(gt)
	if err := bob.reopen(hub); err != nil {
		return err
	}
	after, _ := bob.st.CountMessages(gt)
	fmt.Fprintf(w, "   %d messages in #climbing before, %d after reopening; nothing replayed at start-up\n", before, after)
	done()

	done = step("alice removes carol; the group rotates its keys")
	carolKey, _ := carol.n.MemberKey(gt)
	if err := alice.n.Remove(gt, carolKey); err != nil {
		return err
	}
	if err := run(); err != nil {
		return err
	}
	carolBefore, _ := carol.st.CountMessages(gt)
	carol.undec = 0
	if _, err := alice.n.Send(gt, []byte("planning the next trip without carol")); err != nil {
		return err
	}
	if _, err := bob.n.Send(gt, []byte("agreed, see you there")); err != nil {
		return err
	}
	if _, err := carol.n.Send(gt, []byte("wait, I am still here?")); err == nil {
		fmt.Fprintf(w, "   carol could still write (she has not learned of her removal)\n")
	} else {
		fmt.Fprintf(w, "   carol's own node refuses: %v\n", err)
	}
	if err := run(); err != nil {
		return err
	}
	carolAfter, _ := carol.st.CountMessages(gt)
	if err := transcript(w, bob, gt, names); err != nil {
		return err
	}
	gi, _ := bob.n.Group(gt)
	var members []string
	for _, m := range gi.Members {
		s := names[m.Key]
		if m.Removed {
			s += " (removed)"
		} else if m.Admin {
			s += " (admin)"
		}
		members = append(members, s)
	}
	fmt.Fprintf(w, "   members as bob sees them: %s\n", strings.Join(members, ", "))
	fmt.Fprintf(w, "   carol received the new entries but could decrypt none: %d new messages readable, %d undecryptable\n",
		carolAfter-carolBefore, carol.undec)
	if carolAfter != carolBefore || carol.undec < 2 {
		return fmt.Errorf("carol could read after her removal")
	}
	done()

	if o.Burst > 0 {
		done = step(fmt.Sprintf("alice sends bob a burst of %d messages (batched commits, shuffled delivery)", o.Burst))
		t := time.Now()
		const batch = 100
		for i := 0; i < o.Burst; i += batch {
			bodies := make([][]byte, 0, batch)
			for j := i; j < min(i+batch, o.Burst); j++ {
				bodies = append(bodies, []byte(fmt.Sprintf("burst message %d of %d ……………………………………………………………………………………", j+1, o.Burst)))
			}
			if _, err := alice.n.SendBatch(ab, bodies); err != nil {
				return err
			}
		}
		if err := run(); err != nil {
			return err
		}
		el := time.Since(t)
		n, _ := bob.st.CountMessages(ab)
		fmt.Fprintf(w, "   bob holds %d messages in the contact group; %d of %d burst messages delivered\n", n, n-2, o.Burst)
		fmt.Fprintf(w, "   %.0f messages/s end to end on durable SQLite (both sides on this machine)\n", float64(o.Burst)/el.Seconds())
		if n-2 != o.Burst {
			return fmt.Errorf("burst tail lost: %d of %d delivered", n-2, o.Burst)
		}
		done()
	}
	fmt.Fprintf(w, "\nentries delivered by the in-process network: %d; total %s\n", hub.Delivered(), time.Since(start).Round(time.Millisecond))
	return nil
}

func (p *peer) open(hub *memnet.Hub, ep *memnet.Endpoint) error {
	st, err := sqlite.Open(p.path)
	if err != nil {
		return err
	}
	p.st = st
	var n *node.Node
	deliver := func(topic [32]byte, raws [][]byte) error {
		_, err := n.Receive(topic, raws)
		return err
	}
	if ep == nil {
		ep = hub.Attach(deliver)
	} else {
		ep.SetDeliver(deliver)
	}
	p.ep = ep
	n, err = node.Open(node.Config{
		Store: st, Name: p.name, Transport: ep,
		Events: func(topic [32]byte, ev replica.Event) {
			if ev.Kind == replica.EventUndecryptable {
				p.undec++
			}
		},
	})
	if err != nil {
		st.Close()
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	p.n = n
	return nil
}

func (p *peer) reopen(hub *memnet.Hub) error {
	p.n.Close()
	p.st.Close()
	return p.open(hub, p.ep)
}

func transcript(w io.Writer, p *peer, topic [32]byte, names map[keys.Public]string) error {
	ms, err := p.n.Messages(topic, store.Cursor{}, 1000)
	if err != nil {
		return err
	}
	gi, err := p.n.Group(topic)
	if err != nil {
		return err
	}
	label := gi.Name
	if label == "" {
		label = "contact group"
	}
	fmt.Fprintf(w, "   %s's view of %s:\n", p.name, label)
	for _, m := range ms {
		fmt.Fprintf(w, "     [%3d] %-6s %s\n", m.Lamport, names[m.Member], m.Body)
	}
	return nil
}
