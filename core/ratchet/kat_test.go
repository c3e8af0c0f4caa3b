package ratchet_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
)

// Known-answer vectors for package ratchet. The vector files in testdata/
// are checked by every plain `go test`; `go test -update` rewrites them.

var updateKAT = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/ instead of checking them")

// katVector is one known-answer vector: In is what the test feeds in, Out
// what it must get back. Byte strings are hex, integers decimal.
type katVector struct {
	Name string            `json:"name"`
	In   map[string]string `json:"in"`
	Out  map[string]string `json:"out,omitempty"`
}

type katFile struct {
	Comment string      `json:"comment"`
	Vectors []katVector `json:"vectors"`
}

// checkKAT recomputes the outputs of every vector in testdata/file from its
// inputs and compares them byte for byte with the recorded ones. With
// -update it rewrites the file from vectors instead.
func checkKAT(t *testing.T, file, comment string, vectors []katVector, compute func(t *testing.T, v katVector) map[string]string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *updateKAT {
		out := katFile{Comment: comment}
		for _, v := range vectors {
			v.Out = compute(t, v)
			out.Vectors = append(out.Vectors, v)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test -run '^%s$' -update)", err, t.Name())
	}
	var f katFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Vectors) != len(vectors) {
		t.Errorf("%s holds %d vectors, the test defines %d (regenerate with -update if intended)", path, len(f.Vectors), len(vectors))
	}
	for i, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if i >= len(vectors) || vectors[i].Name != v.Name || !maps.Equal(vectors[i].In, v.In) {
				t.Errorf("inputs recorded in %s differ from the test's (regenerate with -update if intended)", path)
			}
			katDiff(t, v.Out, compute(t, v))
		})
	}
}

// katDiff reports every output that differs from the recorded one.
func katDiff(t *testing.T, want, got map[string]string) {
	t.Helper()
	all := maps.Clone(want)
	maps.Copy(all, got)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !wok:
			t.Errorf("output %q = %s is not in the vector file", k, g)
		case !gok:
			t.Errorf("output %q missing; want %s", k, w)
		case w != g:
			i := 0
			for i < len(w) && i < len(g) && w[i] == g[i] {
				i++
			}
			t.Errorf("output %q differs from character %d:\nwant %s\n got %s", k, i, w, g)
		}
	}
}

func katHex(t testing.TB, in map[string]string, key string) []byte {
	t.Helper()
	s, ok := in[key]
	if !ok {
		t.Fatalf("input %q missing", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return b
}

func katUint(t testing.TB, in map[string]string, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(in[key], 10, 64)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return v
}

func dec(v uint64) string { return strconv.FormatUint(v, 10) }

func katHex32(t testing.TB, in map[string]string, key string) (a [32]byte) {
	t.Helper()
	b := katHex(t, in, key)
	if len(b) != 32 {
		t.Fatalf("input %q is %d bytes, want 32", key, len(b))
	}
	return [32]byte(b)
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// katSeq returns the n bytes first, first+1, ... (mod 256): the fixed seeds
// and keys of the vectors.
func katSeq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// katRand is the deterministic randomness of the vectors: the concatenation
// of SHA-256(seed || uint64be(i)) for i = 0, 1, 2, ...
type katRand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func newKatRand(seed []byte) *katRand { return &katRand{seed: bytes.Clone(seed)} }

func (r *katRand) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			block := sha256.Sum256(binary.BigEndian.AppendUint64(bytes.Clone(r.seed), r.ctr))
			r.ctr++
			r.buf = block[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return len(p), nil
}

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
	vectors := []katVector{
		{Name: "seq01", In: map[string]string{"ck0": hx(katSeq(0x01, 32))}},
		{Name: "zero", In: map[string]string{"ck0": hx(make([]byte, 32))}},
	}
	checkKAT(t, "step.json",
		"five ratchet.Step calls from ck0: mkN = HKDF-Expand(ckN, LabelMessageKey), ckN+1 = HKDF-Expand(ckN, LabelChainKey)",
		vectors, func(t *testing.T, v katVector) map[string]string {
			ck := katHex32(t, v.In, "ck0")
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
				out[fmt.Sprintf("mk%d", i)] = hx(mk[:])
				out[fmt.Sprintf("ck%d", i+1)] = hx(next[:])
				ck = next
			}
			if s.CK != ck || s.Counter != 5 || s.Sent != 5 {
				t.Errorf("Send after 5 messages: %+v", s)
			}
			return out
		})
}

func messageVectors() []katVector {
	vector := func(name string, epoch, counter uint32, seq uint64, plaintext []byte, randSeed string) katVector {
		return katVector{Name: name, In: map[string]string{
			"ck": hx(katSeq(0x01, 32)), "epoch": dec(uint64(epoch)), "counter": dec(uint64(counter)),
			"header_key": hx(katSeq(0x41, 32)), "topic": hx(katSeq(0x61, 32)), "author": hx(katSeq(0x81, 32)),
			"seq": dec(seq), "plaintext": hx(plaintext), "rand_seed": randSeed,
		}}
	}
	return []katVector{
		vector("first", 1, 0, 2, []byte("hello bob"), "01"),
		vector("later", 3, 7, 1000, katSeq(0x00, 200), "02"),
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
		ck: katHex32(t, in, "ck"), headerKey: katHex32(t, in, "header_key"),
		epoch: uint32(katUint(t, in, "epoch")), counter: uint32(katUint(t, in, "counter")),
		bind: ratchet.Binding{
			Topic: katHex32(t, in, "topic"), Author: katHex32(t, in, "author"), Seq: katUint(t, in, "seq"),
		},
		plaintext: katHex(t, in, "plaintext"), rand: katHex(t, in, "rand_seed"),
	}
}

// seal seals m's plaintext with a sending chain at (epoch, counter, ck).
func (m katMessage) seal(t testing.TB) (sealed []byte, s *ratchet.Send) {
	t.Helper()
	s = &ratchet.Send{Epoch: m.epoch, Counter: m.counter, CK: m.ck}
	sealed, err := ratchet.SealMessage(s, &m.headerKey, &m.bind, m.plaintext, newKatRand(m.rand))
	if err != nil {
		t.Fatal(err)
	}
	return sealed, s
}

func TestKATSealMessage(t *testing.T) {
	checkKAT(t, "message.json",
		"ratchet.SealMessage with a sending chain at (epoch, counter, ck), the header key and binding (topic, author, seq), nonces from the SHA-256 counter stream of rand_seed (see katRand); header is epoch || counter (big-endian) as sealed",
		messageVectors(), func(t *testing.T, v katVector) map[string]string {
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
			return map[string]string{"header": hx(hdr[:]), "sealed": hx(sealed), "next_ck": hx(s.CK[:])}
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

func recvVector(name string, start uint32, window int, requests ...uint32) katVector {
	rs := make([]string, len(requests))
	for i, c := range requests {
		rs[i] = dec(uint64(c))
	}
	return katVector{Name: name, In: map[string]string{
		"ck": hx(katSeq(0x01, 32)), "start": dec(uint64(start)), "window": dec(uint64(window)),
		"requests": strings.Join(rs, ","),
	}}
}

func TestKATRecvKey(t *testing.T) {
	vectors := []katVector{
		recvVector("in-order", 0, 0, 0, 1, 2),
		recvVector("skip-and-back", 0, 0, 3, 1, 0, 2, 2),
		recvVector("window-3", 0, 3, 3, 6, 0, 1, 2, 4, 5, 6, 10, 11, 16, 20),
		recvVector("start-late", 5, 0, 4, 5, 1006, 7, 2008, 2007),
	}
	checkKAT(t, "recv.json",
		"ratchet.Recv from NewRecv(1, start, ck) with Window = window (0: DefaultWindow) answering Key for each of requests (decimal, comma-separated) in order: out \"NN:counter\" is the message key (hex) or the error; skipped lists the keys still kept, counter the final position",
		vectors, func(t *testing.T, v katVector) map[string]string {
			ck := katHex32(t, v.In, "ck")
			start := uint32(katUint(t, v.In, "start"))
			r := ratchet.NewRecv(1, start, ck)
			r.Window = int(katUint(t, v.In, "window"))
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
					got = hx(mk[:])
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
				ks[i] = dec(uint64(c))
			}
			out["skipped"] = strings.Join(ks, ",")
			out["counter"] = dec(uint64(r.Counter))
			return out
		})
}
