package p2p

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

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
		{"proof", proof(key, req, resp), "a760504861364356c3bd8a42c9850a4a148f19b68814e5f16e14f0de50343c40"},
		{"answer", answerProof(key, req, resp), "97c06c540ee36077fe5afc6615d6221af8573194285823e7944725e4639e8571"},
	} {
		if hex.EncodeToString(tc.got[:]) != tc.want {
			t.Errorf("%s: %x, want %s", tc.name, tc.got, tc.want)
		}
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add(encodeAnswer([32]byte{1}, signedDevice{Device: keys.Public{2}, Sig: [64]byte{3}}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		proof, d, err := decodeAnswer(b)
		if err == nil && !bytes.Equal(encodeAnswer(proof, d), b) {
			t.Fatalf("%x accepted but encodes differently", b)
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	d := signedDevice{Device: keys.Public{2}, Sig: [64]byte{3}}
	f.Add(encodeHello(d, helloNewcomer, map[keys.Public]uint64{{1}: 5}))
	f.Add(encodeHello(d, helloPull, nil))
	f.Add(append(make([]byte, signedDeviceSize), 4, 0)) // an unknown flag
	f.Fuzz(func(t *testing.T, b []byte) {
		d, flags, v, err := decodeHello(b)
		if err != nil {
			return
		}
		if flags&^(helloNewcomer|helloPull) != 0 || len(v) > MaxVectorDevices {
			t.Fatalf("%x: flags %#x, %d devices accepted", b, flags, len(v))
		}
		d2, flags2, v2, err := decodeHello(encodeHello(d, flags, v))
		if err != nil || d2 != d || flags2 != flags || len(v2) != len(v) {
			t.Fatalf("%x does not survive encoding: %v", b, err)
		}
	})
}

// TestSyncStatementKAT: what each end of a sync signs (§10.2), built here
// by another implementation (Python) from the spec.
func TestSyncStatementKAT(t *testing.T) {
	var network [32]byte
	for i := range network {
		network[i] = byte(i)
	}
	got := statement(roleRequester, peer.ID("12D3KooWRequester"), peer.ID("12D3KooWResponder"), network)
	const want = "0211313244334b6f6f5752657175657374657211313244334b6f6f57526573706f6e646572000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("statement %s, want %s", h, want)
	}
}

// TestAskPullOncePerPeriod: two devices that cut each other (concurrent
// revocations, two admins removing each other) each see the other as cut,
// and each answers "pull" with a sync. Asking the same peer to pull at most
// once per pullEvery is what keeps them from asking each other for ever
// (found by the attacker review of sync v3).
func TestAskPullOncePerPeriod(t *testing.T) {
	x := &Host{pulls: map[syncKey]time.Time{}}
	p, q := peer.ID("12D3KooWOne"), peer.ID("12D3KooWTwo")
	topic := [32]byte{1}
	if !x.mayAskPull(p, topic) {
		t.Fatal("the first ask is refused")
	}
	if x.mayAskPull(p, topic) {
		t.Error("a second ask to the same peer within pullEvery is allowed: two mutually cut devices ping-pong")
	}
	if !x.mayAskPull(q, topic) || !x.mayAskPull(p, [32]byte{2}) {
		t.Error("another peer, or another group, is refused its first ask")
	}
	x.pulls[syncKey{p, topic}] = time.Now().Add(-pullEvery)
	if !x.mayAskPull(p, topic) {
		t.Error("an ask after pullEvery is refused")
	}
}

func FuzzDecodeMailboxHead(f *testing.F) {
	f.Add(EncodeMailboxHead(MailboxHead{Op: MailboxPut, Topic: [32]byte{1}, Network: [32]byte{2}, Proof: [32]byte{3}}))
	f.Add([]byte{1, 9})
	f.Add(make([]byte, mailboxHeadSize+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeMailboxHead(b)
		if err != nil {
			return
		}
		if h.Op < MailboxRegister || h.Op > MailboxGet {
			t.Fatalf("op %d accepted", h.Op)
		}
		if !bytes.Equal(EncodeMailboxHead(h), b) {
			t.Fatalf("%x decodes to a head that encodes differently", b)
		}
	})
}
