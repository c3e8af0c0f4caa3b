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
// Copies are not verified again: an entry the replica holds (Replica.Known:
// from memory, or a stored entry read with lk) is marked in dup, and so is
// a copy of one that verified earlier in the batch. A peer that replays an
// entry a thousand times then costs a thousand hash lookups, not a thousand
// signature checks. The ID does not cover the signature, so a copy whose
// first occurrence failed is verified itself: a spoiled copy must not hide
// the genuine one that another peer's gossip put in the same batch.
func verifyAll(rep *replica.Replica, lk feed.Lookup, raws [][]byte) (entries []*feed.Entry, errs []error, dup []bool) {
	entries = make([]*feed.Entry, len(raws))
	errs = make([]error, len(raws))
	dup = make([]bool, len(raws))
	first := make(map[feed.ID]bool, len(raws)) // IDs sent to verification
	var todo, later []int
	for i, raw := range raws {
		e, err := feed.Decode(raw)
		entries[i], errs[i] = e, err
		switch {
		case err != nil:
		case rep.Known(e, lk):
			dup[i] = true
		case first[e.ID]:
			later = append(later, i)
		default:
			first[e.ID] = true
			todo = append(todo, i)
		}
	}
	one := func(i int) { errs[i] = rep.Verify(entries[i]) }
	if workers := min(runtime.GOMAXPROCS(0), len(todo)/minParallel); workers <= 1 {
		for _, i := range todo {
			one(i)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for k := w; k < len(todo); k += workers {
					one(todo[k])
				}
			})
		}
		wg.Wait()
	}
	// signed[id] is whether a verified copy of id carries its signature; a
	// signed copy after an unsigned one is no copy: its signature
	// authenticates what was held (§4.5), as Offer knows.
	signed := make(map[feed.ID]bool, len(todo))
	for _, i := range todo {
		if errs[i] == nil {
			signed[entries[i].ID] = entries[i].Signed
		}
	}
	for _, i := range later {
		e := entries[i]
		if s, ok := signed[e.ID]; ok && (s || !e.Signed) {
			dup[i] = true
			continue
		}
		if errs[i] = rep.Verify(e); errs[i] == nil {
			signed[e.ID] = signed[e.ID] || e.Signed
		}
	}
	return entries, errs, dup
}
