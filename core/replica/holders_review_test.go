package replica

import (
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/state"
)

// floodHolders has p name n made-up epoch IDs in boxes to to.
func floodHolders(t *testing.T, c *cluster, p, to *peer, n int) {
	for k := 0; k*1024 < n; k++ {
		var boxes []state.Box
		for b := 0; b < 2; b++ {
			var ids []group.EpochID
			for i := 0; i < 512; i++ {
				var id group.EpochID
				id[0], id[1], id[2], id[3], id[4] = 0xee, byte(k), byte(b), byte(i>>8), byte(i)
				ids = append(ids, id)
			}
			boxes = append(boxes, state.Box{Recipient: to.r.DeviceKey(), Epochs: ids, Sealed: make([]byte, 64)})
		}
		if _, err := p.r.postMetadata(&state.Event{Keys: &state.ChainKeys{Epoch: 1, Boxes: boxes}}, 0, nil); err != nil {
			t.Fatal(err)
		}
		c.flush(p)
	}
}

// boundedSync is sync with at most rounds passes; it returns the entries published.
func boundedSync(c *cluster, rounds int) int {
	start := len(c.wire)
	done := map[*peer]int{}
	for range rounds {
		c.pass(c.peers, done)
	}
	return len(c.wire) - start
}

// TestHolderFloodNoLivelock: once a device that counts has named
// maxHolderEpochs made-up epoch IDs, no new epoch gets holders: every
// epoch is tainted, so every metadata write makes and hands out a new
// epoch — and the group's devices never stop writing.
func TestHolderFloodNoLivelock(t *testing.T) {
	for _, flood := range []bool{false, true} {
		f := newRevokeFixture(t, group.KindAccount, 11)
		c := f.c
		if flood {
			floodHolders(t, c, f.d2, f.d1, 5000)
		}
		c.sync()
		if err := f.d1.r.Post(&state.Event{Profile: &state.Profile{Name: "x"}}, f.d1.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(f.d1)
		n1 := boundedSync(c, 5)
		n2 := boundedSync(c, 5)
		t.Logf("flood=%v: holder table %d; entries published in 5 rounds: %d, in the next 5: %d", flood, len(f.d1.r.holders), n1, n2)
		if n2 > 0 {
			t.Errorf("flood=%v: the devices keep writing: %d entries in 5 more rounds", flood, n2)
		}
	}
}
