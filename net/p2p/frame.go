package p2p

import (
	"fmt"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
)

// Limits on what a peer may send (docs/protocol.md §10). Anything larger is
// refused before it is decoded further.
const (
	// MaxBatchEntries bounds the entries in one pubsub message or sync frame.
	MaxBatchEntries = 1024
	// MaxFrame bounds an encoded batch: a pubsub message or a sync frame.
	MaxFrame = 4 << 20
	// MaxVectorDevices bounds the devices in a sync request.
	MaxVectorDevices = 4096

	batchVersion = 1
	syncVersion  = 2
)

// encodeBatch encodes entries as one batch (§10.1): version, count, then
// each entry length-prefixed. It allocates a fresh slice every time:
// gossipsub keeps the slice it is given.
func encodeBatch(raws [][]byte) []byte {
	n := 2
	for _, r := range raws {
		n += len(r) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, batchVersion)
	b = wire.AppendUvarint(b, uint64(len(raws)))
	for _, r := range raws {
		b = wire.AppendBytes(b, r)
	}
	return b
}

// splitBatches cuts raws into batches that fit MaxFrame and MaxBatchEntries.
func splitBatches(raws [][]byte) [][][]byte {
	var out [][][]byte
	var cur [][]byte
	size := 0
	for _, r := range raws {
		if len(cur) > 0 && (size+len(r)+8 > MaxFrame-16 || len(cur) == MaxBatchEntries) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, r)
		size += len(r) + 8
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// decodeBatch parses a batch strictly. The returned slices alias b.
func decodeBatch(b []byte) ([][]byte, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("batch of %d bytes: %w", len(b), wire.ErrMalformed)
	}
	r := wire.NewReader(b)
	if v := r.Byte(); v != batchVersion && r.Err() == nil {
		r.Fail("batch version %d", v)
	}
	n := r.Uvarint(MaxBatchEntries)
	raws := make([][]byte, 0, min(n, 64))
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		raws = append(raws, r.Bytes(feed.MaxEntrySize))
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	return raws, nil
}

// syncHeadSize is the first frame of a sync: version, topic, proof.
const syncHeadSize = 1 + 32 + 32

// encodeSyncHead opens a sync of a group (§10.2): the requester's proof
// that it holds the group's replication key.
func encodeSyncHead(topic, proof [32]byte) []byte {
	b := make([]byte, 0, syncHeadSize)
	b = append(b, syncVersion)
	b = append(b, topic[:]...)
	return append(b, proof[:]...)
}

func decodeSyncHead(b []byte) (topic, proof [32]byte, err error) {
	r := wire.NewReader(b)
	if v := r.Byte(); v != syncVersion && r.Err() == nil {
		r.Fail("sync version %d", v)
	}
	topic, proof = r.Fixed32(), r.Fixed32()
	if err := r.Done(); err != nil {
		return topic, proof, fmt.Errorf("decode sync head: %w", err)
	}
	return topic, proof, nil
}

// encodeVector is a version vector: how far the requester has each feed.
func encodeVector(v map[keys.Public]uint64) []byte {
	b := wire.AppendUvarint(nil, uint64(len(v)))
	for d, s := range v {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, s)
	}
	return b
}

func decodeVector(b []byte) (map[keys.Public]uint64, error) {
	r := wire.NewReader(b)
	v := map[keys.Public]uint64{}
	n := r.Uvarint(MaxVectorDevices)
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		d := keys.Public(r.Fixed32())
		s := r.Uvarint(feed.MaxSeq)
		if _, dup := v[d]; dup && r.Err() == nil {
			r.Fail("device twice in a vector")
		}
		v[d] = s
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode version vector: %w", err)
	}
	return v, nil
}
