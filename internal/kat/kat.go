// Package kat is the harness of the known-answer vector tests of the core
// packages: it loads a vector file from the test's testdata/, recomputes
// every vector's outputs from its inputs and compares them byte for byte, or
// with -update rewrites the file instead. It also gives the vectors their
// fixed byte strings and deterministic randomness.
//
// It exists only for tests' known-answer vectors. Production code must not
// import it: it imports testing and defines the -update flag of the test
// binary that links it.
package kat

import (
	"bytes"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// update is the -update flag of every test binary that links this package:
// `go test ./core/seal -run TestKAT -update` rewrites that package's vector
// files only.
var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/ instead of checking them")

// Vector is one known-answer vector: In is what the test feeds in, Out what
// it must get back. Byte strings are hex, integers decimal.
type Vector struct {
	Name string            `json:"name"`
	In   map[string]string `json:"in"`
	Out  map[string]string `json:"out,omitempty"`
}

// file is the layout of a vector file.
type file struct {
	Comment string   `json:"comment"`
	Vectors []Vector `json:"vectors"`
}

// Check recomputes the outputs of every vector in testdata/name (relative to
// the test's package directory) from its inputs and compares them byte for
// byte with the recorded ones, in a subtest per vector. With -update it
// rewrites the file from vectors, comment and the outputs compute gives,
// instead.
func Check(t *testing.T, name, comment string, vectors []Vector, compute func(t *testing.T, v Vector) map[string]string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		out := file{Comment: comment}
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
	var f file
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
			diff(t, v.Out, compute(t, v))
		})
	}
}

// diff reports every output that differs from the recorded one.
func diff(t *testing.T, want, got map[string]string) {
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

// Hex returns the bytes of the hex value in[key], failing t if it is missing
// or not hex.
func Hex(t testing.TB, in map[string]string, key string) []byte {
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

// Hex32 is Hex for a value that must be exactly 32 bytes.
func Hex32(t testing.TB, in map[string]string, key string) [32]byte {
	t.Helper()
	b := Hex(t, in, key)
	if len(b) != 32 {
		t.Fatalf("input %q is %d bytes, want 32", key, len(b))
	}
	return [32]byte(b)
}

// Uint returns the decimal value in[key], failing t if it is not a uint64.
func Uint(t testing.TB, in map[string]string, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(in[key], 10, 64)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return v
}

// H encodes b in hex, as vectors record byte strings.
func H(b []byte) string { return hex.EncodeToString(b) }

// Dec encodes v in decimal, as vectors record integers.
func Dec(v uint64) string { return strconv.FormatUint(v, 10) }

// Seq returns the n bytes first, first+1, ... (mod 256): the fixed seeds and
// keys of the vectors.
func Seq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// Rand is the deterministic randomness of the vectors: the concatenation of
// SHA-256(seed || uint64be(i)) for i = 0, 1, 2, ... (the comments of the
// vector files call it katRand).
type Rand struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

// NewRand returns the stream of seed; it keeps a copy of seed.
func NewRand(seed []byte) *Rand { return &Rand{seed: bytes.Clone(seed)} }

// Read fills p from the stream; it never fails.
func (r *Rand) Read(p []byte) (int, error) {
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

// Encapsulate768 is ML-KEM-768 encapsulation with its 32 bytes of
// randomness read from rand (FIPS 203 ML-KEM.Encaps_internal): what the
// tests of core/seal and core/handshake install as seal.Encapsulate, so that
// their vectors are fixed. Go reserves the derandomized form for
// known-answer tests.
func Encapsulate768(ek *mlkem.EncapsulationKey768, rand io.Reader) (shared, ciphertext []byte, err error) {
	var m [32]byte
	if _, err := io.ReadFull(rand, m[:]); err != nil {
		return nil, nil, err
	}
	return mlkemtest.Encapsulate768(ek, m[:])
}
