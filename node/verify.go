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
func verifyAll(rep *replica.Replica, raws [][]byte) ([]*feed.Entry, []error) {
	entries := make([]*feed.Entry, len(raws))
	errs := make([]error, len(raws))
	one := func(i int) {
		e, err := feed.Decode(raws[i])
		if err == nil {
			err = rep.Verify(e)
		}
		entries[i], errs[i] = e, err
	}
	workers := min(runtime.GOMAXPROCS(0), len(raws)/minParallel)
	if workers <= 1 {
		for i := range raws {
			one(i)
		}
		return entries, errs
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(raws); i += workers {
				one(i)
			}
		})
	}
	wg.Wait()
	return entries, errs
}
