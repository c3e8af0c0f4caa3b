package ratchet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package ratchet. The vector files in testdata/
// are checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

// katChain returns the message keys of the chain that has ck at position 0,
// for positions 0..n-1, and the chain key at position n.
func katChain(ck [32]byte, n int) (mks [][32]byte, next [32]byte) {
	for range n {
		mk, nx := ratchet.Step(&ck)
		mks = append(mks, mk)
		ck = nx
	}
	return mks, ck
}

func TestKATStep(t *testing.T) {
	vectors := []kat.Vector{
		{Name: "seq01", In: map[string]string{"ck0": kat.H(kat.Seq(0x01, 32))}},
		{Name: "zero", In: map[string]string{"ck0": kat.H(make([]byte, 32))}},
	}
	kat.Check(t, "step.json",
		"five ratchet.Step calls from ck0: mkN = HKDF-Expand(ckN, LabelMessageKey), ckN+1 = HKDF-Expand(ckN, LabelChainKey)",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			ck := kat.Hex32(t, v.In, "ck0")
			out := map[string]string{}
			s := &ratchet.Send{Epoch: 1, CK: ck}
			for i := range 5 {
				mk, next := ratchet.Step(&ck)
				if want := seal.Expand32(&ck, seal.LabelMessageKey); mk != want {
					t.Errorf("mk%d = %x, want HKDF-Expand(ck, LabelMessageKey) = %x", i, mk, want)
				}
				if c, smk := s.Next(); c != uint32(i) || smk != mk {
					t.Errorf("Send.Next() #%d = %d, %x; want %d, %x", i, c, smk, i, mk)
				}
				out[fmt.Sprintf("mk%d", i)] = kat.H(mk[:])
				out[fmt.Sprintf("ck%d", i+1)] = kat.H(next[:])
				ck = next
			}
			if s.CK != ck || s.Counter != 5 || s.Sent != 5 {
				t.Errorf("Send after 5 messages: %+v", s)
			}
			return out
		})
}

func messageVectors() []kat.Vector {
	vector := func(name string, epoch, counter uint32, seq uint64, plaintext []byte, randSeed string) kat.Vector {
		return kat.Vector{Name: name, In: map[string]string{
			"ck": kat.H(kat.Seq(0x01, 32)), "epoch": kat.Dec(uint64(epoch)), "counter": kat.Dec(uint64(counter)),
			"header_key": kat.H(kat.Seq(0x41, 32)), "topic": kat.H(kat.Seq(0x61, 32)), "author": kat.H(kat.Seq(0x81, 32)),
			"seq": kat.Dec(seq), "plaintext": kat.H(plaintext), "rand_seed": randSeed,
		}}
	}
	return []kat.Vector{
		vector("first", 1, 0, 2, []byte("hello bob"), "01"),
		vector("later", 3, 7, 1000, kat.Seq(0x00, 200), "02"),
		vector("empty", 4294967295, 65536, 1<<48, nil, "03"),
	}
}

type katMessage struct {
	ck, headerKey [32]byte
	epoch         uint32
	counter       uint32
	bind          ratchet.Binding
	plaintext     []byte
	rand          []byte
}

func parseMessage(t testing.TB, in map[string]string) katMessage {
	t.Helper()
	return katMessage{
		ck: kat.Hex32(t, in, "ck"), headerKey: kat.Hex32(t, in, "header_key"),
		epoch: uint32(kat.Uint(t, in, "epoch")), counter: uint32(kat.Uint(t, in, "counter")),
		bind: ratchet.Binding{
			Topic: kat.Hex32(t, in, "topic"), Author: kat.Hex32(t, in, "author"), Seq: kat.Uint(t, in, "seq"),
		},
		plaintext: kat.Hex(t, in, "plaintext"), rand: kat.Hex(t, in, "rand_seed"),
	}
}

// seal seals m's plaintext with a sending chain at (epoch, counter, ck).
func (m katMessage) seal(t testing.TB) (sealed []byte, s *ratchet.Send) {
	t.Helper()
	s = &ratchet.Send{Epoch: m.epoch, Counter: m.counter, CK: m.ck}
	sealed, err := ratchet.SealMessage(s, &m.headerKey, &m.bind, m.plaintext, kat.NewRand(m.rand))
	if err != nil {
		t.Fatal(err)
	}
	return sealed, s
}

func TestKATSealMessage(t *testing.T) {
	kat.Check(t, "message.json",
		"ratchet.SealMessage with a sending chain at (epoch, counter, ck), the header key and binding (topic, author, seq), nonces from the SHA-256 counter stream of rand_seed (see katRand); header is epoch || counter (big-endian) as sealed",
		messageVectors(), func(t *testing.T, v kat.Vector) map[string]string {
			m := parseMessage(t, v.In)
			sealed, s := m.seal(t)
			if len(sealed) != ratchet.SealedHeaderSize+len(m.plaintext)+seal.Overhead {
				t.Errorf("sealed message of %d bytes", len(sealed))
			}
			if s.Counter != m.counter+1 {
				t.Errorf("Send.Counter = %d after one message from %d", s.Counter, m.counter)
			}
			epoch, counter, err := ratchet.OpenHeader(&m.headerKey, &m.bind, sealed)
			if err != nil || epoch != m.epoch || counter != m.counter {
				t.Errorf("OpenHeader = %d, %d, %v; want %d, %d", epoch, counter, err, m.epoch, m.counter)
			}
			mk, _ := ratchet.Step(&m.ck)
			if pt, err := ratchet.OpenBody(&mk, &m.bind, sealed); err != nil || !bytes.Equal(pt, m.plaintext) {
				t.Errorf("OpenBody = %x, %v", pt, err)
			}
			r := ratchet.NewRecv(m.epoch, m.counter, m.ck)
			if pt, err := ratchet.Open(r, &m.headerKey, &m.bind, sealed); err != nil || !bytes.Equal(pt, m.plaintext) {
				t.Errorf("Open = %x, %v", pt, err)
			}
			if _, err := ratchet.Open(r, &m.headerKey, &m.bind, sealed); !errors.Is(err, ratchet.ErrKeyUsed) {
				t.Errorf("second Open: %v, want ErrKeyUsed", err)
			}
			var hdr [ratchet.HeaderSize]byte
			binary.BigEndian.PutUint32(hdr[:4], m.epoch)
			binary.BigEndian.PutUint32(hdr[4:], m.counter)
			return map[string]string{"header": kat.H(hdr[:]), "sealed": kat.H(sealed), "next_ck": kat.H(s.CK[:])}
		})
}

// TestOpenRejectsMisbinding moves each sealed vector to another place: other
// topic, author, seq or header key, a flipped bit, or a chain of another
// epoch. Nothing may open, and the receiving chain must not move.
func TestOpenRejectsMisbinding(t *testing.T) {
	for _, v := range messageVectors() {
		t.Run(v.Name, func(t *testing.T) {
			m := parseMessage(t, v.In)
			sealed, _ := m.seal(t)
			type variant struct {
				name   string
				hk     [32]byte
				bind   ratchet.Binding
				sealed []byte
				epoch  uint32
				want   error
			}
			base := variant{hk: m.headerKey, bind: m.bind, sealed: sealed, epoch: m.epoch, want: seal.ErrOpen}
			var variants []variant
			add := func(name string, change func(*variant)) {
				x := base
				x.name = name
				change(&x)
				variants = append(variants, x)
			}
			add("topic", func(x *variant) { x.bind.Topic[0] ^= 1 })
			add("author", func(x *variant) { x.bind.Author[31] ^= 1 })
			add("seq", func(x *variant) { x.bind.Seq++ })
			add("header key", func(x *variant) { x.hk[5] ^= 1 })
			add("epoch", func(x *variant) { x.epoch++; x.want = ratchet.ErrWrongEpoch })
			add("truncated", func(x *variant) { x.sealed = sealed[:len(sealed)-1] })
			add("header only", func(x *variant) { x.sealed = sealed[:ratchet.SealedHeaderSize] })
			for i := range len(sealed) * 8 {
				add(fmt.Sprintf("bit %d", i), func(x *variant) {
					x.sealed = bytes.Clone(sealed)
					x.sealed[i/8] ^= 1 << (i % 8)
				})
			}
			for _, x := range variants {
				r := ratchet.NewRecv(x.epoch, m.counter, m.ck)
				before := r.Clone()
				if pt, err := ratchet.Open(r, &x.hk, &x.bind, x.sealed); !errors.Is(err, x.want) {
					t.Errorf("%s: Open = %x, %v; want %v", x.name, pt, err, x.want)
				}
				if r.Counter != before.Counter || r.CK != before.CK || len(r.Skipped) != 0 {
					t.Errorf("%s: failed Open moved the chain", x.name)
				}
			}
		})
	}
}

func recvVector(name string, start uint32, window int, requests ...uint32) kat.Vector {
	rs := make([]string, len(requests))
	for i, c := range requests {
		rs[i] = kat.Dec(uint64(c))
	}
	return kat.Vector{Name: name, In: map[string]string{
		"ck": kat.H(kat.Seq(0x01, 32)), "start": kat.Dec(uint64(start)), "window": kat.Dec(uint64(window)),
		"requests": strings.Join(rs, ","),
	}}
}

func TestKATRecvKey(t *testing.T) {
	vectors := []kat.Vector{
		recvVector("in-order", 0, 0, 0, 1, 2),
		recvVector("skip-and-back", 0, 0, 3, 1, 0, 2, 2),
		recvVector("window-3", 0, 3, 3, 6, 0, 1, 2, 4, 5, 6, 10, 11, 16, 20),
		recvVector("start-late", 5, 0, 4, 5, 1006, 7, 2008, 2007),
	}
	kat.Check(t, "recv.json",
		"ratchet.Recv from NewRecv(1, start, ck) with Window = window (0: DefaultWindow) answering Key for each of requests (decimal, comma-separated) in order: out \"NN:counter\" is the message key (hex) or the error; skipped lists the keys still kept, counter the final position",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			ck := kat.Hex32(t, v.In, "ck")
			start := uint32(kat.Uint(t, v.In, "start"))
			r := ratchet.NewRecv(1, start, ck)
			r.Window = int(kat.Uint(t, v.In, "window"))
			var requests []uint32
			for _, s := range strings.Split(v.In["requests"], ",") {
				c, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					t.Fatal(err)
				}
				requests = append(requests, uint32(c))
			}
			chain, _ := katChain(ck, int(slices.Max(requests)-start)+1)
			out := map[string]string{}
			for i, c := range requests {
				mk, err := r.Key(c)
				var got string
				switch {
				case err == nil:
					if c < start || mk != chain[c-start] {
						t.Errorf("Key(%d) = %x, not the chain's key", c, mk)
					}
					got = kat.H(mk[:])
				case errors.Is(err, ratchet.ErrKeyUsed):
					got = "ErrKeyUsed"
				case errors.Is(err, ratchet.ErrTooFarAhead):
					got = "ErrTooFarAhead"
				default:
					t.Fatalf("Key(%d): %v", c, err)
				}
				out[fmt.Sprintf("%02d:%d", i, c)] = got
			}
			kept := slices.Sorted(maps.Keys(r.Skipped))
			if w := r.Window; w > 0 && len(kept) > w {
				t.Errorf("%d skipped keys kept, window %d", len(kept), w)
			}
			ks := make([]string, len(kept))
			for i, c := range kept {
				ks[i] = kat.Dec(uint64(c))
			}
			out["skipped"] = strings.Join(ks, ",")
			out["counter"] = kat.Dec(uint64(r.Counter))
			return out
		})
}
