package node_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// readCounter counts the reads of history a store serves.
type readCounter struct {
	store.Store
	reads int
}

func (r *readCounter) Entry(t [32]byte, d keys.Public, s uint64) (feed.Head, bool, error) {
	r.reads++
	return r.Store.Entry(t, d, s)
}

func (r *readCounter) EntriesAfter(t [32]byte, d keys.Public, a uint64, l int) ([][]byte, error) {
	r.reads++
	return r.Store.EntriesAfter(t, d, a, l)
}

func (r *readCounter) Messages(t [32]byte, c store.Cursor, l int) ([]store.Message, error) {
	r.reads++
	return r.Store.Messages(t, c, l)
}

// fill writes n messages to a new group of a new account in the store at
// path, in batches, and returns the group's topic.
func fill(tb testing.TB, path string, n int) [32]byte {
	tb.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	nd, err := node.Open(node.Config{Store: st, Name: "filler"})
	if err != nil {
		tb.Fatal(err)
	}
	defer nd.Close()
	gt, err := nd.CreateGroup("history")
	if err != nil {
		tb.Fatal(err)
	}
	const batch = 1000
	for i := 0; i < n; i += batch {
		bodies := make([][]byte, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			bodies = append(bodies, []byte(fmt.Sprintf("message %d", j)))
		}
		if _, err := nd.SendBatch(gt, bodies); err != nil {
			tb.Fatal(err)
		}
	}
	return gt
}

// TestOpenReadsNoHistory checks that opening an account reads its groups'
// snapshots only: not one entry or message, however many there are.
func TestOpenReadsNoHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	gt := fill(t, path, 3000)
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := &readCounter{Store: st}
	nd, err := node.Open(node.Config{Store: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	if rc.reads != 0 {
		t.Errorf("Open read history %d times", rc.reads)
	}
	// And the reopened account carries on where it stopped.
	m, err := nd.Send(gt, []byte("after reopen"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 3000+5 { // announce, key update, group info, the creator's profile, then 3000 messages
		t.Errorf("first message after reopen has seq %d, want 3005", m.Seq)
	}
	if n, _ := st.CountMessages(gt); n != 3001 {
		t.Errorf("%d messages stored, want 3001", n)
	}
}

// BenchmarkReopen opens an account whose group holds 100 000 messages (and,
// for comparison, 1 000): the SQLite file and the node, ready to send. It
// reports the heap in use after opening. encrypted: the file encrypted at
// rest (§8.1), as a device keeps it.
func BenchmarkReopen(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		for _, encrypted := range []bool{false, true} {
			b.Run(fmt.Sprintf("messages=%d/encrypted=%v", n, encrypted), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "a.db")
				fill(b, path, n)
				opts := sqlite.Options{}
				if encrypted {
					opts.Key = &[32]byte{7}
					if err := sqlite.MarkForEncryption(path); err != nil {
						b.Fatal(err)
					}
					st, err := sqlite.OpenWith(path, opts) // converts the file once
					if err != nil {
						b.Fatal(err)
					}
					st.Close()
				}
				var heap uint64
				b.ResetTimer()
				var total time.Duration
				for range b.N {
					t0 := time.Now()
					st, err := sqlite.OpenWith(path, opts)
					if err != nil {
						b.Fatal(err)
					}
					nd, err := node.Open(node.Config{Store: st})
					if err != nil {
						b.Fatal(err)
					}
					total += time.Since(t0)
					b.StopTimer()
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					heap = ms.HeapInuse
					nd.Close()
					st.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/open")
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			})
		}
	}
}
