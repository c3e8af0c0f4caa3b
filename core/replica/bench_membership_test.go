package replica

import (
	"crypto/rand"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// benchGroup is a multi-member group of n members for the membership
// benchmarks: alice (the creator, an admin) and bob are full replicas; the
// n−2 others only announced themselves (what alice and bob do on a removal
// or a join does not depend on whether the others are online).
type benchGroup struct {
	g          *group.Group
	alice, bob *Replica
	la, lb     memLookup
	cfgA, cfgB Config
	members    []keys.Public // the light members' member keys
}

func newBenchGroup(b *testing.B, n int) *benchGroup {
	b.Helper()
	g, err := group.Create(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	newCfg := func(gr *group.Group) Config {
		a, _ := keys.Generate(rand.Reader)
		d, _ := keys.Generate(rand.Reader)
		return Config{Group: gr, Account: a, Device: d, Rand: rand.Reader}
	}
	bg := &benchGroup{g: g, la: memLookup{}, lb: memLookup{}}
	bg.cfgA = newCfg(g)
	bg.alice, _ = New(bg.cfgA, nil)
	if err := bg.alice.AnnounceGenesis(bg.la); err != nil {
		b.Fatal(err)
	}
	var wire []*feed.Entry
	flush := func(r *Replica, l memLookup) {
		rd := r.Ready()
		l.persist(rd)
		r.Advance()
		wire = append(wire, rd.Outbox...)
	}
	flush(bg.alice, bg.la)
	join := func() *Replica {
		inv, err := bg.alice.Invite(bg.la)
		if err != nil {
			b.Fatal(err)
		}
		flush(bg.alice, bg.la)
		cfg := newCfg(inv.Group())
		r, _ := New(cfg, nil)
		lk := memLookup{}
		if err := r.AnnounceInvited(inv, lk); err != nil {
			b.Fatal(err)
		}
		rd := r.Ready()
		lk.persist(rd)
		r.Advance()
		for _, e := range rd.Outbox {
			if _, err := bg.alice.ReceiveEntry(e, bg.la); err != nil {
				b.Fatal(err)
			}
		}
		wire = append(wire, rd.Outbox...)
		flush(bg.alice, bg.la)
		return r
	}
	for range n - 2 {
		bg.members = append(bg.members, join().MemberKey())
	}
	// Bob joins last and reads everything.
	inv, _ := bg.alice.Invite(bg.la)
	flush(bg.alice, bg.la)
	bg.cfgB = newCfg(inv.Group())
	bg.bob, _ = New(bg.cfgB, nil)
	for _, e := range wire {
		if _, err := bg.bob.ReceiveEntry(e, bg.lb); err != nil {
			b.Fatal(err)
		}
	}
	if err := bg.bob.AnnounceInvited(inv, bg.lb); err != nil {
		b.Fatal(err)
	}
	rd := bg.bob.Ready()
	bg.lb.persist(rd)
	bg.bob.Advance()
	for _, e := range rd.Outbox {
		bg.alice.ReceiveEntry(e, bg.la)
	}
	rd = bg.alice.Ready()
	bg.la.persist(rd)
	bg.alice.Advance()
	for _, e := range rd.Outbox {
		bg.bob.ReceiveEntry(e, bg.lb)
	}
	rd = bg.bob.Ready()
	bg.lb.persist(rd)
	bg.bob.Advance()
	if got := len(bg.bob.State().ActiveDevices()); got != n {
		b.Fatalf("bob counts %d devices, want %d", got, n)
	}
	return bg
}

func entryBytes(es []*feed.Entry) (n int) {
	for _, e := range es {
		n += len(e.Encoded)
	}
	return n
}

// BenchmarkRemoval: alice removes a member of an n-member group. Timed:
// alice's Remove (the removal, the new epoch, her new chain sealed to the
// n−2 remaining devices) and bob reading it (he rotates his chain and seals
// it to n−2 devices too). Reported: the bytes alice and bob publish, and
// the group's total — every remaining member publishes what bob does.
func BenchmarkRemoval(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			bg := newBenchGroup(b, n)
			snapA, snapB := bg.alice.snapshot(), bg.bob.snapshot()
			var aliceBytes, bobBytes int
			var aliceT, bobT time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				alice, _ := New(bg.cfgA, snapA)
				bob, _ := New(bg.cfgB, snapB)
				la, lb := bg.la.clone(), bg.lb.clone()
				target := bg.members[i%len(bg.members)]
				i++
				b.StartTimer()
				t0 := time.Now()
				if err := alice.Remove(target, la); err != nil {
					b.Fatal(err)
				}
				rd := alice.Ready()
				la.persist(rd)
				alice.Advance()
				t1 := time.Now()
				for _, e := range rd.Outbox {
					if _, err := bob.ReceiveEntry(e, lb); err != nil {
						b.Fatal(err)
					}
				}
				brd := bob.Ready()
				lb.persist(brd)
				bob.Advance()
				t2 := time.Now()
				aliceT += t1.Sub(t0)
				bobT += t2.Sub(t1)
				aliceBytes = entryBytes(rd.Outbox)
				bobBytes = entryBytes(brd.Outbox)
				if m := bob.State().Member(target); m == nil || !m.Removed {
					b.Fatal("bob did not apply the removal")
				}
			}
			runs := float64(b.N)
			b.ReportMetric(float64(aliceT.Microseconds())/runs, "remover-µs")
			b.ReportMetric(float64(bobT.Microseconds())/runs, "member-µs")
			b.ReportMetric(float64(aliceBytes), "remover-B")
			b.ReportMetric(float64(bobBytes), "member-B")
			b.ReportMetric(float64(aliceBytes+(n-2)*bobBytes), "group-B")
		})
	}
}

// BenchmarkJoin: a new member joins an n-member group with alice's link.
// Timed: alice reading the joiner's announce (she seals her chain and the
// group's epochs to it), and the joiner reading alice's box (it opens the
// epochs and reads the group's history). Reported: the bytes alice
// publishes for the joiner, and the group's total if every member hands
// the joiner its chain.
func BenchmarkJoin(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			bg := newBenchGroup(b, n)
			inv, err := bg.alice.Invite(bg.la)
			if err != nil {
				b.Fatal(err)
			}
			rd := bg.alice.Ready()
			bg.la.persist(rd)
			bg.alice.Advance()
			snapA := bg.alice.snapshot()
			var aliceBytes int
			var aliceT, joinerT time.Duration
			for b.Loop() {
				b.StopTimer()
				alice, _ := New(bg.cfgA, snapA)
				la := bg.la.clone()
				a, _ := keys.Generate(rand.Reader)
				d, _ := keys.Generate(rand.Reader)
				joiner, _ := New(Config{Group: inv.Group(), Account: a, Device: d, Rand: rand.Reader}, nil)
				lj := memLookup{}
				// The joiner has synced the group (every entry alice holds).
				for _, e := range sortedEntries(la) {
					joiner.ReceiveEntry(e, lj)
				}
				jrd := joiner.Ready()
				lj.persist(jrd)
				joiner.Advance()
				if err := joiner.AnnounceInvited(inv, lj); err != nil {
					b.Fatal(err)
				}
				jrd = joiner.Ready()
				lj.persist(jrd)
				joiner.Advance()
				b.StartTimer()
				t0 := time.Now()
				for _, e := range jrd.Outbox {
					if _, err := alice.ReceiveEntry(e, la); err != nil {
						b.Fatal(err)
					}
				}
				ard := alice.Ready()
				la.persist(ard)
				alice.Advance()
				t1 := time.Now()
				for _, e := range ard.Outbox {
					if _, err := joiner.ReceiveEntry(e, lj); err != nil {
						b.Fatal(err)
					}
				}
				jrd = joiner.Ready()
				lj.persist(jrd)
				joiner.Advance()
				t2 := time.Now()
				aliceT += t1.Sub(t0)
				joinerT += t2.Sub(t1)
				aliceBytes = entryBytes(ard.Outbox)
				if joiner.State().Device(joiner.DeviceKey()) == nil || len(joiner.State().ActiveDevices()) != n+1 {
					b.Fatalf("the joiner does not count itself among %d devices after alice's box", n+1)
				}
			}
			runs := float64(b.N)
			b.ReportMetric(float64(aliceT.Microseconds())/runs, "member-µs")
			b.ReportMetric(float64(joinerT.Microseconds())/runs, "joiner-µs")
			b.ReportMetric(float64(aliceBytes), "member-B")
			b.ReportMetric(float64(n*aliceBytes), "group-B")
		})
	}
}

// sortedEntries returns the entries of a lookup in an order that respects
// their dependencies (by Lamport clock).
func sortedEntries(l memLookup) []*feed.Entry {
	var out []*feed.Entry
	for _, f := range l {
		for _, e := range f {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lamport < out[j].Lamport })
	return out
}
