package memnet_test

import (
	"encoding/binary"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/berty-go/berty/net/memnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var topic = [32]byte{7}

func entry(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

// collector records what an endpoint receives.
type collector struct {
	mu  sync.Mutex
	got []int
}

func (c *collector) deliver(_ [32]byte, raws [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range raws {
		c.got = append(c.got, int(binary.BigEndian.Uint32(r)))
	}
	return nil
}

// TestReorderingIsBounded: every entry arrives, some twice, in an order
// that differs from publication but never by more than the window — the
// property replicas rely on to never overflow their hold.
func TestReorderingIsBounded(t *testing.T) {
	const n, window = 5000, 64
	hub := memnet.New(42, 0.3, 16)
	hub.SetWindow(window)
	var recv collector
	src := hub.Attach(func([32]byte, [][]byte) error { return nil })
	dst := hub.Attach(recv.deliver)
	dst.Join(topic, [32]byte{}, nil)
	for i := range n {
		src.Publish(topic, [][]byte{entry(i)})
	}
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	// For each entry's first delivery, count the later entries that were
	// delivered before it: fewer than the window.
	seen := map[int]int{}
	reordered := false
	var firsts []int
	for _, v := range recv.got {
		seen[v]++
		if seen[v] > 1 {
			continue
		}
		overtaken := 0
		for _, u := range firsts {
			if u > v {
				overtaken++
			}
		}
		if overtaken >= window {
			t.Fatalf("entry %d overtaken by %d later entries, window %d", v, overtaken, window)
		}
		reordered = reordered || overtaken > 0
		firsts = append(firsts, v)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct entries delivered, want %d", len(seen), n)
	}
	dups := len(recv.got) - n
	if !reordered || dups < n/5 || dups > n/2 {
		t.Fatalf("reordered=%v, %d duplicates: the hub is not exercising replicas", reordered, dups)
	}
}

// TestOfflineAndBacklog: a late joiner gets the topic's backlog; an offline
// endpoint gets what it missed when it comes back.
func TestOfflineAndBacklog(t *testing.T) {
	hub := memnet.New(1, 0, 8)
	var late, off collector
	src := hub.Attach(func([32]byte, [][]byte) error { return nil })
	src.Join(topic, [32]byte{}, nil)
	o := hub.Attach(off.deliver)
	o.Join(topic, [32]byte{}, nil)
	o.SetOnline(false)
	src.Publish(topic, [][]byte{entry(1), entry(2)})
	l := hub.Attach(late.deliver)
	l.Join(topic, [32]byte{}, nil)
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	if len(late.got) != 2 || len(off.got) != 0 {
		t.Fatalf("late joiner got %v, offline endpoint got %v", late.got, off.got)
	}
	o.SetOnline(true)
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	if len(off.got) != 2 {
		t.Fatalf("back online, got %v", off.got)
	}
}

// TestConcurrentMode: Start delivers in the background, Wait returns when
// all is delivered, Stop leaves no goroutine behind (TestMain checks).
func TestConcurrentMode(t *testing.T) {
	hub := memnet.New(1, 0, 32)
	var a, b collector
	ea := hub.Attach(a.deliver)
	hub.Start()
	eb := hub.Attach(b.deliver) // attached after Start: served all the same
	ea.Join(topic, [32]byte{}, nil)
	eb.Join(topic, [32]byte{}, nil)
	var wg sync.WaitGroup
	for _, ep := range []*memnet.Endpoint{ea, eb} {
		wg.Go(func() {
			for i := range 500 {
				ep.Publish(topic, [][]byte{entry(i)})
			}
		})
	}
	wg.Wait()
	if err := hub.Wait(); err != nil {
		t.Fatal(err)
	}
	hub.Stop()
	if len(a.got) != 500 || len(b.got) != 500 {
		t.Fatalf("delivered %d and %d, want 500 each", len(a.got), len(b.got))
	}
}
