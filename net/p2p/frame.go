package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

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
	syncVersion  = 3
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

// syncHeadSize is the first frame of a sync: version, network, proof.
const syncHeadSize = 1 + 32 + 32

// encodeSyncHead opens a sync (§10.2): the network (an epoch's network ID)
// and the requester's proof that it holds the network's key.
func encodeSyncHead(network, proof [32]byte) []byte {
	b := make([]byte, 0, syncHeadSize)
	b = append(b, syncVersion)
	b = append(b, network[:]...)
	return append(b, proof[:]...)
}

func decodeSyncHead(b []byte) (network, proof [32]byte, err error) {
	r := wire.NewReader(b)
	if v := r.Byte(); v != syncVersion && r.Err() == nil {
		r.Fail("sync version %d", v)
	}
	network, proof = r.Fixed32(), r.Fixed32()
	if err := r.Done(); err != nil {
		return network, proof, fmt.Errorf("decode sync head: %w", err)
	}
	return network, proof, nil
}

// signedDevice is how each end of a sync names itself: its device key in
// the group and its signature of the sync's statement.
type signedDevice struct {
	Device keys.Public
	Sig    [64]byte
}

const signedDeviceSize = 32 + 64

// answerSize is the responder's answer to a proven opening.
const answerSize = 32 + signedDeviceSize

func encodeAnswer(proof [32]byte, d signedDevice) []byte {
	b := make([]byte, 0, answerSize)
	b = append(b, proof[:]...)
	b = append(b, d.Device[:]...)
	return append(b, d.Sig[:]...)
}

func decodeAnswer(b []byte) (proof [32]byte, d signedDevice, err error) {
	r := wire.NewReader(b)
	proof, d = r.Fixed32(), readSignedDevice(r)
	if err := r.Done(); err != nil {
		return proof, d, fmt.Errorf("decode sync answer: %w", err)
	}
	return proof, d, nil
}

func readSignedDevice(r *wire.Reader) (d signedDevice) {
	d.Device = keys.Public(r.Fixed32())
	copy(d.Sig[:], r.Fixed(64))
	return d
}

// maxHello bounds the requester's hello: its signed device, flags and
// vector.
const maxHello = signedDeviceSize + 1 + maxVector

// Hello flags.
const (
	// helloNewcomer: the requester does not count yet in its own view of
	// the group (it cannot tell members from strangers).
	helloNewcomer = 1
	// helloPull: the requester wants nothing; the responder should sync
	// from it instead (it has what the responder needs and may give it
	// only as a responder: a removed device's removal).
	helloPull = 2
)

func encodeHello(d signedDevice, flags byte, vector map[keys.Public]uint64) []byte {
	b := append(append([]byte(nil), d.Device[:]...), d.Sig[:]...)
	b = append(b, flags)
	return append(b, encodeVector(vector)...)
}

func decodeHello(b []byte) (d signedDevice, flags byte, v map[keys.Public]uint64, err error) {
	if len(b) < signedDeviceSize+1 {
		return d, 0, nil, fmt.Errorf("decode sync hello: %d bytes: %w", len(b), wire.ErrMalformed)
	}
	d = readSignedDevice(wire.NewReader(b[:signedDeviceSize]))
	if flags = b[signedDeviceSize]; flags&^(helloNewcomer|helloPull) != 0 {
		return d, 0, nil, fmt.Errorf("decode sync hello: flags %#x: %w", flags, wire.ErrMalformed)
	}
	v, err = decodeVector(b[signedDeviceSize+1:])
	return d, flags, v, err
}

// Verdicts: the responder's word on the requester's hello (§10.2).
const (
	verdictRefused = 0 // nothing for this device; the stream ends
	verdictServing = 1 // entries follow
	verdictShow    = 2 // who is this? show your announce, then a verdict again
)

// Roles in a sync statement.
const (
	roleResponder = 1
	roleRequester = 2
)

// statement is what each end of a sync signs with its device key in the
// group: its role, both peer IDs and the network, so that a signature
// cannot be replayed to another peer, in another sync direction or under
// another epoch.
func statement(role byte, requester, responder peer.ID, network [32]byte) []byte {
	b := []byte{role}
	b = wire.AppendBytes(b, []byte(requester))
	b = wire.AppendBytes(b, []byte(responder))
	return append(b, network[:]...)
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
