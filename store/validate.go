package store

import (
	"fmt"

	"github.com/berty-go/berty/core/keys"
)

// Validate checks a batch for what no store accepts: entries out of seq order
// within a feed, zero seqs, unknown group kinds. Stores call it before
// writing anything, so that a bad batch changes nothing.
func Validate(b *Batch) error {
	for _, g := range b.Groups {
		if g.Kind < 1 || g.Kind > 3 {
			return fmt.Errorf("group of kind %d", g.Kind)
		}
	}
	type fk struct {
		t [32]byte
		d keys.Public
	}
	last := map[fk]uint64{}
	for _, e := range b.Entries {
		if e.Seq == 0 || len(e.Raw) == 0 {
			return fmt.Errorf("entry with seq %d and %d bytes", e.Seq, len(e.Raw))
		}
		k := fk{e.Topic, e.Device}
		if l, ok := last[k]; ok && e.Seq != l+1 && e.Seq > l {
			return fmt.Errorf("entries of one feed out of order in a batch: %d after %d", e.Seq, l)
		}
		last[k] = max(last[k], e.Seq)
	}
	for _, m := range b.Messages {
		if m.Seq == 0 {
			return fmt.Errorf("message with seq 0")
		}
	}
	return nil
}
