package replica

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
)

// limitShrinking caps the time rapid spends minimizing a failure (30 s by
// default), unless the command line or the environment sets it, so that a
// failing property does not make the package's tests slow.
func limitShrinking(t *testing.T) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.shrinktime" })
	if _, env := os.LookupEnv("RAPID_SHRINKTIME"); set || env {
		return
	}
	if err := flag.Set("rapid.shrinktime", "5s"); err != nil {
		t.Fatal(err)
	}
}

// membersOf renders what a replica's state says of the members.
func membersOf(r *Replica) string {
	var b strings.Builder
	for _, m := range r.State().Members() {
		fmt.Fprintf(&b, "%s admin=%v removed=%v devices=%v cutoffs=", m.Key, m.Admin, m.Removed, m.Devices)
		ds := make([]keys.Public, 0, len(m.Cutoffs))
		for d := range m.Cutoffs {
			ds = append(ds, d)
		}
		for _, d := range sortedPublics(ds) {
			fmt.Fprintf(&b, "%s:%d,", d, m.Cutoffs[d])
		}
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "active=%v name=%q", r.State().ActiveDevices(), r.State().Name())
	return b.String()
}

// TestReplicaConvergence: three or four members of a multi-member group send
// messages while entries are delivered in random order, with duplicates; a
// replica restarts from its last persisted snapshot (sometimes losing a Ready
// it had not persisted, which the network gives back); an admin may remove a
// member; members rename the group (metadata sealed in epochs, §3.4); new
// members join mid-way with a current member's link, concurrently with the
// rest. Once everything is delivered, all replicas have the same version
// vector, members and name, and every member's replica has delivered, for
// each author device, exactly what that device sent while it was a member
// (up to its cut-off if it was removed or dropped) — nothing lost, nothing
// twice, nothing forged. A removed member's replica delivers nothing that
// was not sent. And the group stays writable: every current member then
// sends once more, and every current member reads it.
func TestReplicaConvergence(t *testing.T) {
	limitShrinking(t)
	var st struct{ checks, restarts, crashes, removals, held, rotations, undecryptable, joins, dropped, renames int }
	rapid.Check(t, func(rt *rapid.T) {
		st.checks++
		c := newCluster(rt, rapid.Uint64().Draw(rt, "seed"))
		rotateEvery := uint32(rapid.IntRange(1, 4).Draw(rt, "rotate every"))
		c.configure = func(cfg *Config) { cfg.RotateEvery = rotateEvery }
		c.tolerate = []error{feed.ErrCutOff}
		c.creator("alice")
		n := rapid.IntRange(3, 4).Draw(rt, "members")
		for i := 1; i < n; i++ {
			inviter := c.peers[rapid.IntRange(0, len(c.peers)-1).Draw(rt, "inviter")]
			c.join(inviter, fmt.Sprintf("m%d", i))
			c.sync()
		}
		alice := c.peers[0]

		var removed *peer
		// out reports whether alice's state has p out: removed, dropped, or
		// never in (a join whose link died with a removal).
		out := func(p *peer) bool {
			m := alice.r.State().Member(p.r.MemberKey())
			return m == nil || m.Removed
		}
		count, joined := 0, 0
		steps := rapid.IntRange(5, 25).Draw(rt, "steps")
		for range steps {
			p := c.peers[rapid.IntRange(0, len(c.peers)-1).Draw(rt, "peer")]
			switch action := rapid.IntRange(0, 11).Draw(rt, "action"); {
			case action <= 2, action == 8: // send; 8: crash before persisting it
				count++
				body := fmt.Sprintf("%s#%d", p.name, count)
				if _, err := p.r.Send([]byte(body), p.lk); err != nil {
					if errors.Is(err, ErrNotMember) || errors.Is(err, ErrWaitingForKeys) {
						continue // removed, dropped, or not let in yet
					}
					rt.Fatalf("%s: send: %v", p.name, err)
				}
				if action == 8 {
					st.crashes++
					c.restart(p) // never persisted, never published: never sent
					continue
				}
				c.flush(p)
			case action <= 6: // deliver some published entry, most often a recent one
				from := 0
				if rapid.IntRange(0, 3).Draw(rt, "recent") > 0 {
					from = max(0, len(c.wire)-6)
				}
				raw := c.wire[rapid.IntRange(from, len(c.wire)-1).Draw(rt, "entry")]
				if out, _ := c.receive(p, raw); out == feed.Held {
					st.held++
				}
			case action == 7: // restart; maybe lose an unpersisted receive
				if rapid.Bool().Draw(rt, "crash mid-receive") {
					raw := c.wire[rapid.IntRange(0, len(c.wire)-1).Draw(rt, "lost entry")]
					if _, err := p.r.Receive(raw, p.lk); err != nil && !c.tolerated(err) {
						rt.Fatalf("%s: receive: %v", p.name, err)
					}
				}
				st.restarts++
				c.restart(p)
			case action == 9: // the creator removes someone, once
				if removed != nil || p == alice {
					continue
				}
				if m := alice.r.State().Member(alice.r.MemberKey()); m == nil || m.Removed {
					continue
				}
				if m := alice.r.State().Member(p.r.MemberKey()); m == nil || m.Removed {
					continue // not in alice's view yet, or dropped
				}
				c.remove(alice, p)
				removed = p
				st.removals++
			case action == 10: // rename the group: metadata in the current epoch
				if err := p.r.Post(&state.Event{Info: &state.GroupInfo{Name: fmt.Sprintf("%s's", p.name)}}, p.lk); err == nil {
					st.renames++
					c.flush(p)
				}
			case action == 11: // a new member joins with p's link, twice at most
				if joined >= 2 {
					continue
				}
				inv, err := p.r.Invite(p.lk)
				if err != nil {
					continue // p is out, or not let in yet
				}
				c.flush(p)
				joined++
				st.joins++
				c.join2(inv, fmt.Sprintf("j%d", joined))
			}
		}
		c.sync()

		for _, p := range c.peers {
			if m := alice.r.State().Member(p.r.MemberKey()); m != nil && m.Dropped {
				st.dropped++
			}
		}
		// Same vector, same members, nothing held.
		want, wantMembers := alice.r.Vector(), membersOf(alice.r)
		for _, p := range c.peers {
			// One that was never in, or is out, may not read the removals
			// that cut others' entries: its vector may be ahead.
			if got := p.r.Vector(); !vectorsEqual(got, want) && !out(p) {
				rt.Fatalf("%s: vector %v, alice has %v", p.name, got, want)
			}
			// A removed or dropped member reads no metadata written after
			// (§3.4): its view of the group may stop there.
			if got := membersOf(p.r); got != wantMembers && !out(p) {
				rt.Fatalf("%s: members\n%s\nalice has\n%s", p.name, got, wantMembers)
			}
			if p.r.Held() != 0 {
				rt.Fatalf("%s: %d entries still held", p.name, p.r.Held())
			}
			st.rotations += len(eventsOf(p.events, EventRotated))
			if p != removed {
				st.undecryptable += len(eventsOf(p.events, EventUndecryptable))
			}
		}
		// Exactly what was sent, while a member.
		expected := map[keys.Public][]string{}
		for _, a := range c.peers {
			dev := a.r.DeviceKey()
			cut, isCut := alice.r.State().Cutoff(dev)
			for k, body := range a.sent {
				if !isCut || k.seq <= cut {
					expected[dev] = append(expected[dev], body)
				}
			}
			sort.Strings(expected[dev])
		}
		for _, p := range c.peers {
			for _, a := range c.peers {
				dev := a.r.DeviceKey()
				got := p.bodiesFrom(dev)
				// A member that joined mid-way reads from the moment it
				// was let in (§6.3): it is held to "nothing forged" only.
				if !out(p) && !strings.HasPrefix(p.name, "j") {
					if fmt.Sprint(got) != fmt.Sprint(expected[dev]) {
						rt.Fatalf("%s delivered from %s %q, %s sent %q (events %+v)",
							p.name, a.name, got, a.name, expected[dev], eventsOf(p.events, EventUndecryptable))
					}
					continue
				}
				sent := map[string]bool{}
				for _, b := range expected[dev] {
					sent[b] = true
				}
				for _, b := range got {
					if !sent[b] {
						rt.Fatalf("removed %s delivered %q from %s, which it did not send while a member", p.name, b, a.name)
					}
				}
			}
		}
		// The group stays writable: every current member writes once more,
		// and every current member reads it.
		var current []*peer
		for _, p := range c.peers {
			if !out(p) {
				current = append(current, p)
			}
		}
		for _, p := range current {
			if _, err := p.r.Send([]byte("last from "+p.name), p.lk); err != nil {
				rt.Fatalf("%s, a current member, cannot write at the end: %v", p.name, err)
			}
			c.flush(p)
		}
		c.sync()
		for _, p := range current {
			for _, a := range current {
				if a != p && !p.hasBody("last from "+a.name) {
					rt.Fatalf("%s does not read %s's last message", p.name, a.name)
				}
			}
		}
	})
	t.Logf("%+v", st)
	if st.checks >= 50 && (st.joins == 0 || st.renames == 0) {
		t.Fatalf("the schedules neither join nor rename: %+v", st)
	}
	if st.checks >= 50 && (st.restarts == 0 || st.crashes == 0 || st.removals == 0 || st.held == 0 || st.rotations == 0) {
		t.Fatalf("the schedules do not exercise the replicas: %+v", st)
	}
}
