package sqlite_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// BenchmarkCommit100 commits batches of 100 entries (450 bytes) and their
// 100 messages (200 bytes), durably: the node's unit of work under load.
func BenchmarkCommit100(b *testing.B) { benchCommit(b, 100) }

// BenchmarkCommit1 commits one entry and its message, durably: what one
// message costs the store of its sender, as a chat sends it.
func BenchmarkCommit1(b *testing.B) { benchCommit(b, 1) }

func benchCommit(b *testing.B, per int) {
	for _, encrypted := range []bool{false, true} {
		name := "plaintext"
		if encrypted {
			name = "encrypted"
		}
		b.Run(name, func(b *testing.B) {
			var o sqlite.Options
			if encrypted {
				o.Key = &[32]byte{7}
			}
			s, err := sqlite.OpenWith(filepath.Join(b.TempDir(), "b.db"), o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			raw, body := make([]byte, 450), make([]byte, 200)
			seq := uint64(0)
			b.ReportAllocs()
			cpu0 := cpu()
			for b.Loop() {
				batch := &store.Batch{Groups: []store.Group{{Topic: [32]byte{1}, Kind: 3, Snapshot: make([]byte, 1600)}}}
				for range per {
					seq++
					batch.Entries = append(batch.Entries, store.Entry{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, ID: feed.ID{byte(seq), byte(seq >> 8)}, Lamport: seq, Raw: raw})
					batch.Messages = append(batch.Messages, store.Message{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, Lamport: seq, ID: feed.ID{byte(seq), byte(seq >> 8)}, Body: body})
				}
				if err := s.Commit(batch); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N * per)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/n, "µs/msg")
			b.ReportMetric(float64((cpu()-cpu0)/1000)/n, "cpu-µs/msg")
		})
	}
}

// cpu is the process's CPU time in nanoseconds.
func cpu() int64 {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r.Utime.Nano() + r.Stime.Nano()
}
