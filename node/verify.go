package node

import (
	"runtime"
	"sync"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/replica"
)

// minParallel is the batch size from which verification is spread over the
// cores: below it, starting goroutines costs more than it saves.
const minParallel = 16

// verifyAll decodes and verifies a batch of received entries, in parallel
// for large batches. Signature verification is the largest per-entry cost of
// ingest (docs/benchmarks.md) and needs nothing but the group's immutable
// keys, so it runs here, at the edge, and the replica — one owner, in order —
// takes only verified entries. The goroutines end before verifyAll returns.
//
// Copies are not verified: an entry repeated in the batch, or one the
// replica holds (Replica.Known: from memory, or a stored entry read with
// lk), is marked in dup. A peer that
// replays an entry a thousand times then costs a thousand hash lookups, not
// a thousand signature checks.
func verifyAll(rep *replica.Replica, lk feed.Lookup, raws [][]byte) (entries []*feed.Entry, errs []error, dup []bool) {
	entries = make([]*feed.Entry, len(raws))
	errs = make([]error, len(raws))
	dup = make([]bool, len(raws))
	signed := make(map[feed.ID]bool, len(raws)) // IDs seen in the batch: signed or not
	var todo []int
	for i, raw := range raws {
		e, err := feed.Decode(raw)
		entries[i], errs[i] = e, err
		if err != nil {
			continue
		}
		// A signed copy after an unsigned one is no copy: its signature
		// authenticates what was held (§4.5), as Offer knows.
		if s, ok := signed[e.ID]; (ok && (s || !e.Signed)) || rep.Known(e, lk) {
			dup[i] = true
			continue
		}
		signed[e.ID] = signed[e.ID] || e.Signed
		todo = append(todo, i)
	}
	one := func(i int) { errs[i] = rep.Verify(entries[i]) }
	workers := min(runtime.GOMAXPROCS(0), len(todo)/minParallel)
	if workers <= 1 {
		for _, i := range todo {
			one(i)
		}
		return entries, errs, dup
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(todo); k += workers {
				one(todo[k])
			}
		})
	}
	wg.Wait()
	return entries, errs, dup
}
