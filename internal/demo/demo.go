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
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
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
	// Plaintext leaves the databases unencrypted, to open with sqlite3.
	Plaintext bool
	Out       io.Writer
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
		net = p2pWorld{plaintext: o.Plaintext}
	case "memnet":
		net = &memWorld{hub: memnet.New(o.Seed, o.Dup, 128), seed: o.Seed, dup: o.Dup, plaintext: o.Plaintext}
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
	// aliceDevicesIn is how many devices alice's member has in a group, as
	// p sees it.
	aliceDevicesIn := func(p *peer, topic [32]byte) int {
		gi, err := p.n.Group(topic)
		if err != nil {
			return 0
		}
		mk, _ := alice.n.MemberKey(topic)
		m, _ := gi.Member(mk)
		return m.Devices
	}
	entries := func(p *peer, topic [32]byte) uint64 {
		v, _ := p.n.Vector(topic)
		var n uint64
		for _, s := range v {
			n += s
		}
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
	a1, err := alice.m.SendText(ab, "hi bob! this is end-to-end encrypted", nil)
	if err != nil {
		return err
	}
	if err := until("bob to get alice's message", func() bool { return has(bob, ab, a1) }); err != nil {
		return err
	}
	b1, err := bob.m.SendText(ab, "hi alice, loud and clear", &a1) // a reply
	if err != nil {
		return err
	}
	if err := until("alice to get bob's reply", func() bool { return has(alice, ab, b1) }); err != nil {
		return err
	}
	if err := alice.m.React(ab, b1, "👍", false); err != nil {
		return err
	}
	if err := alice.m.Edit(ab, a1, "hi bob! this is end-to-end encrypted, and signed"); err != nil {
		return err
	}
	if err := until("bob to see the reaction and the edit", func() bool {
		h, err := bob.m.History(ab, nil, 10)
		return err == nil && len(h) == 2 && h[0].ID == b1 && len(h[0].Reactions) == 1 && h[1].Edited
	}); err != nil {
		return err
	}
	if err := bob.m.MarkRead(ab, b1); err != nil {
		return err
	}
	if err := until("alice to see bob's read marker", func() bool { return readBy(alice, ab, bob.n.AccountKey()) == b1 }); err != nil {
		return err
	}
	names := map[keys.Public]string{alice.n.AccountKey(): "alice", bob.n.AccountKey(): "bob", carol.n.AccountKey(): "carol"}
	if err := transcript(w, bob, ab); err != nil {
		return err
	}
	unread := func(p *peer, topic [32]byte) int {
		c, err := p.m.Conversation(topic)
		if err != nil {
			return -1
		}
		return c.Unread
	}
	fmt.Fprintf(w, "   bob's read receipt is one \"read up to\" marker, not an ack per message: alice sees it at his reply;\n")
	fmt.Fprintf(w, "   unread: bob %d, alice %d (her own messages never count)\n", unread(bob, ab), unread(alice, ab))
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
	if gl, err := link.NewGroup(raw); err == nil {
		fmt.Fprintf(w, "   invitation: %d bytes, a group link of %d characters (share it like a password)\n", len(raw), len(gl.URL()))
	}
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
		if _, err := p.m.SendText(gt, fmt.Sprintf("%s here, ready for saturday", p.name), nil); err != nil {
			return fmt.Errorf("%s sends: %w", p.name, err)
		}
	}
	if err := until("everyone to read the three greetings", func() bool {
		return count(alice, gt) == 3 && count(bob, gt) == 3 && count(carol, gt) == 3
	}); err != nil {
		return err
	}
	if err := transcript(w, carol, gt); err != nil {
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
		aliceDevices := func(p *peer) int { return aliceDevicesIn(p, gt) }
		if err := until("the phone to follow alice's account into her conversations", func() bool {
			// The phone writes in #climbing once it also counts everyone
			// else there (docs/protocol.md §9).
			gp, errp := phone.n.Group(gt)
			ga, erra := alice.n.Group(gt)
			return count(phone, ab) == count(alice, ab) && aliceDevices(bob) == 2 && aliceDevices(phone) == 2 &&
				errp == nil && erra == nil && len(gp.Members) == len(ga.Members)
		}); err != nil {
			return err
		}
		fmt.Fprintf(w, "   the phone synced alice's account group, reads her contact chat's history (%d messages: contact groups\n", count(phone, ab))
		fmt.Fprintf(w, "   hand a new device of an owner the epoch's base key) and announced itself in #climbing (bob sees %d devices for alice;\n", aliceDevices(bob))
		fmt.Fprintf(w, "   a device added to a multi-member group reads from the moment it joins)\n")
		if _, err := phone.m.SendText(gt, "alice from her phone: I booked the gym", nil); err != nil {
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
		m, ok := gi.Member(carolKey)
		return ok && m.Removed
	}
	if err := until("everyone to apply the removal", func() bool { return removed(bob) && removed(carol) }); err != nil {
		return err
	}
	carolBefore, undecBefore, bobBefore := count(carol, gt), carol.undec.Load(), count(bob, gt)
	if _, err := alice.m.SendText(gt, "planning the next trip without carol", nil); err != nil {
		return err
	}
	if _, err := bob.m.SendText(gt, "agreed, see you there", nil); err != nil {
		return err
	}
	if _, err := carol.m.SendText(gt, "wait, I am still here?", nil); err == nil {
		fmt.Fprintf(w, "   carol could still write (she has not learned of her removal)\n")
	} else {
		fmt.Fprintf(w, "   carol's own node refuses: %v\n", err)
	}
	// On libp2p the group has moved to the new epoch's network: carol
	// cannot name its topic, and every sync knows her device — she is
	// served what sorts up to her removal, nothing after (§10.2). The
	// in-process network carries everything to everyone: there carol
	// receives the new entries, and opens none.
	carolEntries := entries(carol, gt)
	if err := until("bob to read both messages", func() bool {
		return count(bob, gt) == bobBefore+2 && (carol.dev != nil || carol.undec.Load()-undecBefore >= 2)
	}); err != nil {
		return err
	}
	if carol.dev != nil {
		cut := func() int64 { return alice.dev.Host.Stats().SyncCut + bob.dev.Host.Stats().SyncCut }
		base := cut()
		carol.dev.Host.SyncNow(gt)
		if err := until("carol's syncs", func() bool { return cut() > base }); err != nil {
			return err
		}
		if got := entries(carol, gt); got != carolEntries {
			return fmt.Errorf("carol received %d entries written after her removal", got-carolEntries)
		}
		fmt.Fprintf(w, "   the group moved to the new epoch's network; carol's syncs are served up to her removal only:\n")
		fmt.Fprintf(w, "   0 of the entries written since reached her\n")
	}
	if err := transcript(w, bob, gt); err != nil {
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
	fmt.Fprintf(w, "   carol could decrypt none: %d new messages readable, %d undecryptable\n",
		carolAfter-carolBefore, carol.undec.Load()-undecBefore)
	if carolAfter != carolBefore {
		return fmt.Errorf("carol could read after her removal")
	}
	done()

	done = step("carol comes back with a fresh account and the old #climbing link")
	carol2 := &peer{name: "carol-new", path: filepath.Join(dir, "carol-new.db")}
	if err := net.open(carol2, wt); err != nil {
		return err
	}
	defer func() { carol2.close() }()
	if err := net.connect([]*peer{alice, bob, carol, carol2}); err != nil {
		return err
	}
	old, err := replica.DecodeInvitation(raw)
	if err != nil {
		return err
	}
	if _, err := carol2.n.Join(old); err != nil {
		return err
	}
	undec2, bobBefore2 := carol2.undec.Load(), count(bob, gt)
	if carol2.dev != nil {
		// On libp2p no member syncs with her: her announce, which she shows
		// to be let in, does not count (the link died with the removal).
		refused := func() int64 { return alice.dev.Host.Stats().SyncErrors + bob.dev.Host.Stats().SyncErrors }
		base := refused()
		carol2.dev.Host.SyncNow(gt)
		if err := until("the members to refuse carol's new account", func() bool { return refused() > base }); err != nil {
			return err
		}
		fmt.Fprintf(w, "   alice and bob refuse to sync with her new device: its announce, shown to be let in, does not count\n")
	} else {
		// The in-process network carries everything to everyone.
		sawAlice := func() bool {
			gi, err := carol2.n.Group(gt)
			return err == nil && len(gi.Members) > 0
		}
		if err := until("carol's new account to receive the group", sawAlice); err != nil {
			return err
		}
	}
	if _, err := alice.m.SendText(gt, "who else has that old link?", nil); err != nil {
		return err
	}
	if err := until("bob to read alice and carol's new account to receive it", func() bool {
		return count(bob, gt) == bobBefore2+1 && (carol2.dev != nil || carol2.undec.Load() > undec2)
	}); err != nil {
		return err
	}
	gi, _ = bob.n.Group(gt)
	current := 0
	for _, m := range gi.Members {
		if !m.Removed {
			current++
		}
	}
	_, sendErr := carol2.m.SendText(gt, "hi again", nil)
	fmt.Fprintf(w, "   every link dies with a removal, and a join that sorts before the removal is dropped by its roster:\n")
	fmt.Fprintf(w, "   bob still counts %d current members; carol's new account reads %d messages, could not open %d\n",
		current, count(carol2, gt), carol2.undec.Load()-undec2)
	fmt.Fprintf(w, "   its own node: %v\n", sendErr)
	if count(carol2, gt) != 0 || current != 2 {
		return fmt.Errorf("carol's new account got in with the old link")
	}
	done()

	done = step("alice makes joins wait for her approval; carol's own account comes back with a new link")
	if err := alice.n.SetJoinApproval(gt, true); err != nil {
		return err
	}
	back, err := alice.n.Invite(gt)
	if err != nil {
		return err
	}
	if _, err := carol.n.Join(back); err != nil {
		return err
	}
	carolNew, _ := carol.n.MemberKey(gt)
	fmt.Fprintf(w, "   carol joins again as a new membership (member key %x, was %x): a removal is final for a key\n", carolNew[:4], carolKey[:4])
	waits := func() bool {
		gi, err := alice.n.Group(gt)
		return err == nil && len(gi.Awaiting) == 1 && gi.Awaiting[0].Member == carolNew
	}
	if carol.dev != nil {
		carol.dev.Host.SyncNow(gt)
	}
	if err := until("alice to see carol's join waiting", waits); err != nil {
		return err
	}
	_, sendErr = carol.m.SendText(gt, "let me in", nil)
	fmt.Fprintf(w, "   alice sees it waiting for her; until she decides, carol's node says: %v\n", sendErr)
	if err := alice.n.DecideJoin(gt, carolNew, true); err != nil {
		return err
	}
	admitted := func() bool {
		gi, err := bob.n.Group(gt)
		if err != nil {
			return false
		}
		m, ok := gi.Member(carolNew)
		return ok && !m.Removed && m.Devices == 1
	}
	if err := until("bob to count carol again", admitted); err != nil {
		return err
	}
	carolHad := count(carol, gt)
	if _, err := alice.m.SendText(gt, "welcome back carol", nil); err != nil {
		return err
	}
	if err := until("carol to read alice's welcome", func() bool { return count(carol, gt) == carolHad+1 }); err != nil {
		return err
	}
	if err := until("carol to be able to write", func() bool {
		_, err := carol.m.SendText(gt, "glad to be back", nil)
		return err == nil
	}); err != nil {
		return err
	}
	if err := until("bob to read carol", func() bool { return count(bob, gt) == bobBefore2+3 }); err != nil {
		return err
	}
	page, err := carol.m.History(gt, nil, 1000)
	if err != nil {
		return err
	}
	for _, it := range page {
		if it.Body == "planning the next trip without carol" {
			return fmt.Errorf("carol, back, reads what was said while she was out")
		}
	}
	fmt.Fprintf(w, "   alice admits her: carol reads what is written from then on — not what was said while she was out —\n")
	if err := transcript(w, carol, gt); err != nil {
		return err
	}
	done()

	if phone != nil {
		done = step("alice revokes her phone (lost); every group rotates its keys, the account moves to a new key")
		oldKey := alice.n.AccountKey()
		stolenLink, err := phone.n.ContactLink() // what a thief could hand out
		if err != nil {
			return err
		}
		if err := alice.dev.RevokeDevice(phone.n.DeviceKey()); err != nil {
			return err
		}
		// bob must have applied the revocation before he writes: what he
		// writes before that is still sealed to the phone's chain.
		aliceDevicesAt := func(p *peer) int { return aliceDevicesIn(p, ab) }
		if err := until("the phone and bob to learn of the revocation", func() bool {
			return phone.n.Revoked() && aliceDevicesAt(bob) == 1 && aliceDevicesAt(phone) == 1
		}); err != nil {
			return err
		}
		phoneBefore, undecBefore, aliceBefore := count(phone, ab), phone.undec.Load(), count(alice, ab)
		phoneEntries := entries(phone, ab)
		if _, err := bob.m.SendText(ab, "alice, did you find your phone?", nil); err != nil {
			return err
		}
		if err := until("alice to read bob", func() bool { return count(alice, ab) == aliceBefore+1 }); err != nil {
			return err
		}
		// And in #climbing, where the phone was a device of alice's too.
		if err := until("bob and the phone to learn of the revocation in #climbing", func() bool {
			return aliceDevicesIn(bob, gt) == 1 && aliceDevicesIn(phone, gt) == 1
		}); err != nil {
			return err
		}
		phoneEntries += entries(phone, gt) // what sorts up to the revocation, which the phone is served
		phoneGroupBefore, undecBefore2, aliceGroupBefore := count(phone, gt), phone.undec.Load(), count(alice, gt)
		if _, err := bob.m.SendText(gt, "alice, is your phone still on you?", nil); err != nil {
			return err
		}
		if err := until("alice to read bob in #climbing", func() bool { return count(alice, gt) == aliceGroupBefore+1 }); err != nil {
			return err
		}
		// The phone, still connected to alice, asks for both groups: it is
		// served what sorts up to its revocation, nothing after (§10.2).
		base := alice.dev.Host.Stats().SyncCut
		phone.dev.Host.SyncNow(ab)
		phone.dev.Host.SyncNow(gt)
		if err := until("the phone's syncs", func() bool { return alice.dev.Host.Stats().SyncCut >= base+2 }); err != nil {
			return err
		}
		_ = undecBefore2
		_, sendErr := phone.m.SendText(ab, "x", nil)
		fmt.Fprintf(w, "   alice reads bob's new messages; the phone's syncs are served up to its revocation only:\n")
		fmt.Fprintf(w, "   %d new entries reached it, and it could decrypt nothing new: %d readable in the chat, %d in #climbing, %d undecryptable\n",
			entries(phone, ab)+entries(phone, gt)-phoneEntries, count(phone, ab)-phoneBefore, count(phone, gt)-phoneGroupBefore, phone.undec.Load()-undecBefore)
		fmt.Fprintf(w, "   (the groups moved to new epochs' networks, whose names it cannot compute)\n")
		fmt.Fprintf(w, "   the phone itself refuses to send: %v\n", sendErr)
		if count(phone, ab) != phoneBefore || count(phone, gt) != phoneGroupBefore || entries(phone, ab)+entries(phone, gt) != phoneEntries {
			return fmt.Errorf("the revoked phone received or read entries written after its revocation")
		}
		// The phone keeps the account's old key: the account moved on
		// (§5.9), bob learnt it in their chat and refuses the old key.
		newKey := alice.n.AccountKey()
		if err := until("bob to learn alice's new account key", func() bool { return bob.n.ContactKey(oldKey) == newKey }); err != nil {
			return err
		}
		_, linkErr := bob.n.RequestContact(stolenLink)
		if newKey == oldKey || phone.n.AccountKey() != oldKey || !errors.Is(linkErr, node.ErrKeySucceeded) {
			return fmt.Errorf("account key succession: new key %v (old %v), the phone has %v, bob and the old link: %v", newKey, oldKey, phone.n.AccountKey(), linkErr)
		}
		fmt.Fprintf(w, "   alice's account moved from key %v… to %v…, which the phone never saw; bob learnt it in their chat\n", oldKey, newKey)
		fmt.Fprintf(w, "   and refuses the link the phone still gives out: %v\n", linkErr)
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

// transcript prints a conversation as p's messenger shows it: names,
// replies, edits, reactions.
func transcript(w io.Writer, p *peer, topic [32]byte) error {
	page, err := p.m.History(topic, nil, 1000)
	if err != nil {
		return err
	}
	c, err := p.m.Conversation(topic)
	if err != nil {
		return err
	}
	label := c.Name
	if c.Kind == group.KindContact {
		label = "the conversation with " + c.Name
	}
	fmt.Fprintf(w, "   %s's view of %s:\n", p.name, label)
	for i := len(page) - 1; i >= 0; i-- {
		it := page[i]
		line := it.Body
		if it.ReplyTo != nil {
			line = fmt.Sprintf("↪ %q: %s", it.ReplyText, line)
		}
		if it.Edited {
			line += " (edited)"
		}
		for _, r := range it.Reactions {
			line += fmt.Sprintf(" [%s %d]", r.Emoji, r.Count)
		}
		fmt.Fprintf(w, "     [%3d] %-6s %s\n", it.Lamport, it.Name, line)
	}
	return nil
}

// has reports whether p holds the message id of a conversation.
func has(p *peer, topic, id [32]byte) bool {
	page, err := p.m.Around(topic, id, 0)
	return err == nil && len(page) == 1
}

// readBy returns how far (which message) account has read in a conversation
// as p sees it.
func readBy(p *peer, topic [32]byte, account keys.Public) [32]byte {
	ms, err := p.m.Receipts(topic)
	if err != nil {
		return [32]byte{}
	}
	for _, mk := range ms {
		if mk.Member == account && mk.Read != nil {
			return mk.Read.ID
		}
	}
	return [32]byte{}
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
