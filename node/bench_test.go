package node_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
	"github.com/berty-go/berty/store/sqlite"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExchange has every member of a group write its share of 10 000
// messages of 200 bytes, in batches of 100 per commit, each member in its
// own goroutine as separate devices would, while the in-process network
// delivers in order, concurrently per member, whatever is queued (up to 256
// entries per delivery), until every member holds every message. It reports messages/s (10 000 per op), CPU µs
// per message and allocations per message, for 2 and 5 members, on SQLite
// files (durable: synchronous=FULL) and on in-memory stores.
func BenchmarkExchange(b *testing.B) {
	for _, members := range []int{2, 5} {
		for _, real := range []bool{true, false} {
			kind := "mem"
			if real {
				kind = "sqlite"
			}
			b.Run(fmt.Sprintf("members=%d/store=%s", members, kind), func(b *testing.B) { exchange(b, members, real) })
		}
	}
}

func exchange(b *testing.B, members int, real bool) {
	const total, batch = 10_000, 100
	body := make([]byte, 200)
	for i := range body {
		body[i] = 'x'
	}
	var msgs, cpu time.Duration
	var mallocs uint64
	var elapsed time.Duration
	b.StopTimer()
	for range b.N {
		hub := memnet.New(1, 0, 256)
		hub.SetWindow(1)
		dir := b.TempDir()
		nodes := make([]*node.Node, members)
		for i := range nodes {
			var st store.Store = mem.New()
			if real {
				s, err := sqlite.Open(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				st = s
			}
			var n *node.Node
			ep := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := n.Receive(topic, raws); return err })
			n, err := node.Open(node.Config{Store: st, Transport: ep})
			if err != nil {
				b.Fatal(err)
			}
			nodes[i] = n
		}
		gt, err := nodes[0].CreateGroup("bench")
		if err != nil {
			b.Fatal(err)
		}
		inv, _ := nodes[0].Invite(gt)
		for _, n := range nodes[1:] {
			if _, err := n.Join(inv); err != nil {
				b.Fatal(err)
			}
		}
		if err := hub.Run(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		c0, t0 := cpuTime(), time.Now()
		b.StartTimer()
		per := total / members
		hub.Start()
		var wg sync.WaitGroup
		errs := make(chan error, members)
		for _, n := range nodes {
			wg.Go(func() {
				for sent := 0; sent < per; sent += batch {
					bodies := make([][]byte, 0, batch)
					for range min(batch, per-sent) {
						bodies = append(bodies, body)
					}
					if _, err := n.SendBatch(gt, bodies); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		err = hub.Wait()
		hub.Stop()
		b.StopTimer()
		close(errs)
		for e := range errs {
			b.Fatal(e)
		}
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		msgs += time.Duration(per * members)
		for _, n := range nodes {
			if c, _ := n.Messages(gt, store.Cursor{}, 1); len(c) == 0 {
				b.Fatal("no messages")
			}
		}
		if real {
			// Every member must hold every message.
			for i, n := range nodes {
				ms, _ := n.Messages(gt, store.Cursor{}, total+1)
				if len(ms) != per*members {
					b.Fatalf("member %d holds %d of %d messages", i, len(ms), per*members)
				}
			}
		}
		for _, n := range nodes {
			n.Close()
		}
	}
	b.StartTimer()
	b.ReportMetric(float64(msgs)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs), "cpu-µs/msg")
	b.ReportMetric(float64(mallocs)/float64(msgs), "allocs/msg")
	b.ReportMetric(0, "ns/op")
}
