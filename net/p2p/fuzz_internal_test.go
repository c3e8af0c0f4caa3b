package p2p

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/keys"
)

// The decoders of what peers send on gossip and sync (§10.1, §10.2). None
// may panic or allocate beyond its limits; what one accepts encodes back to
// the same bytes (one encoding per value), so nothing unread hides in it.
// Run one with: go test -run '^$' -fuzz FuzzDecodeBatch -fuzztime 1m ./net/p2p

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([][]byte{[]byte("a"), []byte("bc")}))
	f.Add(encodeBatch(nil))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := decodeBatch(b)
		if err != nil {
			return
		}
		if len(raws) > MaxBatchEntries {
			t.Fatalf("%d entries accepted, limit %d", len(raws), MaxBatchEntries)
		}
		if !bytes.Equal(encodeBatch(raws), b) {
			t.Fatalf("%x decodes to %d entries that encode differently", b, len(raws))
		}
	})
}

func FuzzDecodeSyncHead(f *testing.F) {
	f.Add(encodeSyncHead([32]byte{1}, [32]byte{2}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		topic, proof, err := decodeSyncHead(b)
		if err == nil && !bytes.Equal(encodeSyncHead(topic, proof), b) {
			t.Fatalf("%x accepted but encodes differently", b)
		}
	})
}

func FuzzDecodeVector(f *testing.F) {
	f.Add(encodeVector(map[keys.Public]uint64{{1}: 5, {2}: 1 << 40}))
	f.Add(encodeVector(nil))
	f.Add([]byte{0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeVector(b)
		if err != nil {
			return
		}
		if len(v) > MaxVectorDevices {
			t.Fatalf("%d devices accepted, limit %d", len(v), MaxVectorDevices)
		}
		back, err := decodeVector(encodeVector(v))
		if err != nil || len(back) != len(v) {
			t.Fatalf("%x: the vector does not survive encoding: %v", b, err)
		}
		for d, s := range v {
			if back[d] != s {
				t.Fatalf("%x: device %x at %d, then %d", b, d[:4], s, back[d])
			}
		}
	})
}

// TestSyncProofKAT: the two sync proofs of §10.2, computed here by another
// implementation (Python's hmac) from the spec's formulas.
func TestSyncProofKAT(t *testing.T) {
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	req, resp := peer.ID("12D3KooWRequester"), peer.ID("12D3KooWResponder")
	for _, tc := range []struct {
		name string
		got  [32]byte
		want string
	}{
		{"proof", proof(key, req, resp), "d7b302ae0a7864e5bf637b43c3b2053a1fc6d416069bca511755a7cbdfe7b005"},
		{"answer", answerProof(key, req, resp), "b3a1850300060244f3fc15dba0254f993c0fc8d79e4e9d388fbd23fe69819c02"},
	} {
		if hex.EncodeToString(tc.got[:]) != tc.want {
			t.Errorf("%s: %x, want %s", tc.name, tc.got, tc.want)
		}
	}
}
