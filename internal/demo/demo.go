// Package demo runs the README's demonstration: three accounts on real
// SQLite files, on real libp2p hosts on loopback (or, with Net "memnet", an
// in-process network that shuffles and duplicates every entry), through the
// whole group life cycle.
package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/store"
)

// Options configure a demo run.
type Options struct {
	Dir     string  // where the SQLite files go ("": a temporary directory, removed after)
	Net     string  // "libp2p" (default) or "memnet"
	Seed    uint64  // delivery-order seed (memnet)
	Dup     float64 // probability of a duplicate delivery (memnet)
	Burst   int     // messages in the closing burst (0: none)
	KeepDir bool    // keep a temporary directory for inspection
	QR      bool    // draw alice's contact link as a QR code
	Out     io.Writer
}

// Run runs the demo.
func Run(o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	w := o.Out
	var net world
	switch o.Net {
	case "", "libp2p":
		net = p2pWorld{}
	case "memnet":
		net = &memWorld{hub: memnet.New(o.Seed, o.Dup, 128), seed: o.Seed, dup: o.Dup}
	default:
		return fmt.Errorf("unknown network %q: use libp2p or memnet", o.Net)
	}
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
	wt := newWaiter()
	start := time.Now()
	var peers []*peer
	for _, name := range []string{"alice", "bob", "carol"} {
		p := &peer{name: name, path: filepath.Join(dir, name+".db")}
		if err := net.open(p, wt); err != nil {
			return err
		}
		defer func() { p.close() }()
		peers = append(peers, p)
	}
	alice, bob, carol := peers[0], peers[1], peers[2]
	if err := net.connect(peers); err != nil {
		return err
	}
	fmt.Fprintf(w, "Berty demo: 3 accounts, SQLite files in %s\n", dir)
	fmt.Fprintf(w, "network: %s\n\n", net.describe())
	for _, p := range peers {
		fmt.Fprintf(w, "  %-6s account %s…  device %s…\n", p.name, p.n.AccountKey(), p.n.DeviceKey())
	}
	step := func(title string) func() {
		t := time.Now()
		fmt.Fprintf(w, "\n== %s\n", title)
		return func() { fmt.Fprintf(w, "   (%s)\n", time.Since(t).Round(time.Microsecond)) }
	}
	until := func(what string, ok func() bool) error {
		if err := net.settle(); err != nil {
			return err
		}
		return wt.until(what, net.limit(), ok)
	}
	count := func(p *peer, topic [32]byte) int {
		n, _ := p.st.CountMessages(topic)
		return n
	}

	done := step("bob adds alice from her contact link; she accepts")
	if err := net.befriend(w, bob, alice, wt, o.QR); err != nil {
		return fmt.Errorf("contact request: %w", err)
	}
	ab, err := contactTopic(alice, bob)
	if err != nil {
		return err
	}
	ba, err := contactTopic(bob, alice)
	if err != nil {
		return err
	}
	if ab != ba {
		return fmt.Errorf("alice and bob derived different contact groups")
	}
	fmt.Fprintf(w, "   both derived contact group topic %x… from the two account keys\n", ab[:4])
	if _, err := alice.n.Send(ab, []byte("hi bob! this is end-to-end encrypted")); err != nil {
		return err
	}
	if _, err := bob.n.Send(ab, []byte("hi alice, loud and clear")); err != nil {
		return err
	}
	if err := until("the contact chat", func() bool { return count(alice, ab) == 2 && count(bob, ab) == 2 }); err != nil {
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
	members := func(p *peer) int {
		gi, err := p.n.Group(gt)
		if err != nil {
			return 0
		}
		n := 0
		for _, m := range gi.Members {
			if !m.Removed {
				n++
			}
		}
		return n
	}
	if err := until("everyone to see three members", func() bool {
		return members(alice) == 3 && members(bob) == 3 && members(carol) == 3
	}); err != nil {
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
	if err := until("everyone to read the three greetings", func() bool {
		return count(alice, gt) == 3 && count(bob, gt) == 3 && count(carol, gt) == 3
	}); err != nil {
		return err
	}
	if err := transcript(w, carol, gt, names); err != nil {
		return err
	}
	done()

	done = step("bob restarts from his SQLite file")
	before := count(bob, gt)
	t0 := time.Now()
	if err := net.reopen(bob, wt); err != nil {
		return err
	}
	reopened := time.Since(t0)
	if err := net.connect(peers); err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d messages in #climbing before, %d after reopening in %s; nothing replayed at start-up\n",
		before, count(bob, gt), reopened.Round(time.Microsecond))
	done()

	var phone *peer
	done = step("alice links her phone: a second device of her account")
	phone = &peer{name: "alice-phone", path: filepath.Join(dir, "alice-phone.db")}
	switch err := net.link(w, alice, phone, wt); {
	case errors.Is(err, errNoLinking):
		fmt.Fprintf(w, "   skipped: %v\n", err)
		phone = nil
	case err != nil:
		return fmt.Errorf("link a device: %w", err)
	default:
		defer func() { phone.close() }()
		aliceDevices := func(p *peer) int {
			gi, err := p.n.Group(gt)
			if err != nil {
				return 0
			}
			for _, m := range gi.Members {
				if k, _ := alice.n.MemberKey(gt); m.Key == k {
					return m.Devices
				}
			}
			return 0
		}
		if err := until("the phone to follow alice's account into her conversations", func() bool {
			return count(phone, ab) == 2 && aliceDevices(bob) == 2
		}); err != nil {
			return err
		}
		fmt.Fprintf(w, "   the phone synced alice's account group, reads her contact chat's history (%d messages: contact groups\n", count(phone, ab))
		fmt.Fprintf(w, "   hand a new device of an owner the epoch's base key) and announced itself in #climbing (bob sees %d devices for alice;\n", aliceDevices(bob))
		fmt.Fprintf(w, "   a device added to a multi-member group reads from the moment it joins)\n")
		if _, err := phone.n.Send(gt, []byte("alice from her phone: I booked the gym")); err != nil {
			return err
		}
		if err := until("bob to read the phone's message", func() bool { return count(bob, gt) == count(alice, gt) && count(bob, gt) == before+1 }); err != nil {
			return err
		}
		names[phone.n.DeviceKey()] = "alice"
		fmt.Fprintf(w, "   bob reads it as alice's: the phone writes under alice's member key with its own device certificate\n")
	}
	done()

	done = step("alice removes carol; the group rotates its keys")
	carolKey, _ := carol.n.MemberKey(gt)
	if err := alice.n.Remove(gt, carolKey); err != nil {
		return err
	}
	removed := func(p *peer) bool {
		gi, err := p.n.Group(gt)
		if err != nil {
			return false
		}
		for _, m := range gi.Members {
			if m.Key == carolKey {
				return m.Removed
			}
		}
		return false
	}
	if err := until("everyone to apply the removal", func() bool { return removed(bob) && removed(carol) }); err != nil {
		return err
	}
	carolBefore, undecBefore, bobBefore := count(carol, gt), carol.undec.Load(), count(bob, gt)
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
	// carol keeps receiving the group's entries: wait until she holds alice's
	// and bob's new ones, then show she could open none.
	if err := until("bob to read both messages and carol to receive them", func() bool {
		return count(bob, gt) == bobBefore+2 && carol.undec.Load()-undecBefore >= 2
	}); err != nil {
		return err
	}
	if err := transcript(w, bob, gt, names); err != nil {
		return err
	}
	gi, _ := bob.n.Group(gt)
	var ms []string
	for _, m := range gi.Members {
		s := names[m.Key]
		if m.Removed {
			s += " (removed)"
		} else if m.Admin {
			s += " (admin)"
		}
		ms = append(ms, s)
	}
	fmt.Fprintf(w, "   members as bob sees them: %s\n", strings.Join(ms, ", "))
	carolAfter := count(carol, gt)
	fmt.Fprintf(w, "   carol received the new entries but could decrypt none: %d new messages readable, %d undecryptable\n",
		carolAfter-carolBefore, carol.undec.Load()-undecBefore)
	if carolAfter != carolBefore {
		return fmt.Errorf("carol could read after her removal")
	}
	done()

	if phone != nil {
		done = step("alice revokes her phone (lost); every group rotates its keys")
		if err := alice.dev.RevokeDevice(phone.n.DeviceKey()); err != nil {
			return err
		}
		// bob must have applied the revocation before he writes: what he
		// writes before that is still sealed to the phone's chain.
		aliceDevicesAt := func(p *peer) int {
			gi, err := p.n.Group(ab)
			if err != nil {
				return 0
			}
			for _, m := range gi.Members {
				if m.Key == alice.n.AccountKey() {
					return m.Devices
				}
			}
			return 0
		}
		if err := until("the phone and bob to learn of the revocation", func() bool {
			return phone.n.Revoked() && aliceDevicesAt(bob) == 1
		}); err != nil {
			return err
		}
		phoneBefore, undecBefore := count(phone, ab), phone.undec.Load()
		if _, err := bob.n.Send(ab, []byte("alice, did you find your phone?")); err != nil {
			return err
		}
		if err := until("alice to read bob and the phone to receive it", func() bool {
			return count(alice, ab) == 3 && phone.undec.Load() > undecBefore
		}); err != nil {
			return err
		}
		_, sendErr := phone.n.Send(ab, []byte("x"))
		fmt.Fprintf(w, "   alice reads bob's new message; the phone received it but could decrypt nothing new (%d readable, %d undecryptable)\n",
			count(phone, ab)-phoneBefore, phone.undec.Load()-undecBefore)
		fmt.Fprintf(w, "   the phone itself refuses to send: %v\n", sendErr)
		if count(phone, ab) != phoneBefore {
			return fmt.Errorf("the revoked phone could read after its revocation")
		}
		done()
	}

	if o.Burst > 0 {
		done = step(fmt.Sprintf("alice sends bob a burst of %d messages (batched commits)", o.Burst))
		t := time.Now()
		base := count(bob, ab)
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
		if err := until("bob to receive the whole burst", func() bool { return count(bob, ab) == base+o.Burst }); err != nil {
			return fmt.Errorf("burst tail lost: %w (%d of %d delivered)", err, count(bob, ab)-base, o.Burst)
		}
		el := time.Since(t)
		fmt.Fprintf(w, "   bob holds all %d burst messages, the last one included\n", o.Burst)
		fmt.Fprintf(w, "   %.0f messages/s end to end on durable SQLite (both sides on this machine)\n", float64(o.Burst)/el.Seconds())
		done()
	}
	fmt.Fprintf(w, "\ntotal %s\n", time.Since(start).Round(time.Millisecond))
	return nil
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

// contactTopic is the contact group of a and b as a derives it.
func contactTopic(a, b *peer) ([32]byte, error) {
	acc, err := a.st.Account()
	if err != nil {
		return [32]byte{}, err
	}
	g, err := group.Contact(keys.FromSeed(acc.AccountSeed), b.n.AccountKey())
	if err != nil {
		return [32]byte{}, err
	}
	return g.Keys.Topic, nil
}
