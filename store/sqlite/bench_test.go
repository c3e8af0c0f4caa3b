package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
)

// BenchmarkCommit100 commits batches of 100 entries (450 bytes) and their
// 100 messages (200 bytes), durably: the node's unit of work under load.
func BenchmarkCommit100(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "b.db"))
	raw, body := make([]byte, 450), make([]byte, 200)
	seq := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		batch := &store.Batch{Groups: []store.Group{{Topic: [32]byte{1}, Kind: 3, Snapshot: make([]byte, 600)}}}
		for range 100 {
			seq++
			batch.Entries = append(batch.Entries, store.Entry{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, ID: feed.ID{byte(seq)}, Lamport: seq, Raw: raw})
			batch.Messages = append(batch.Messages, store.Message{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, Lamport: seq, ID: feed.ID{byte(seq)}, Body: body})
		}
		if err := s.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100, "µs/msg")
}
