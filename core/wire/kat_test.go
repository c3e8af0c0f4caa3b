package wire_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/berty-go/berty/core/wire"
)

// Known-answer vectors for the wire codec. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.

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

func TestKATUvarint(t *testing.T) {
	var vectors []katVector
	for _, v := range []uint64{0, 1, 127, 128, 255, 300, 16383, 16384, 1<<32 - 1, 1 << 48, 1 << 62, 1 << 63, 1<<64 - 1} {
		vectors = append(vectors, katVector{Name: dec(v), In: map[string]string{"value": dec(v)}})
	}
	checkKAT(t, "uvarint.json", "wire.AppendUvarint: value (decimal) -> minimal LEB128 encoding (hex)", vectors,
		func(t *testing.T, v katVector) map[string]string {
			x := katUint(t, v.In, "value")
			enc := wire.AppendUvarint(nil, x)
			r := wire.NewReader(enc)
			if got := r.Uvarint(1<<64 - 1); got != x || r.Done() != nil {
				t.Errorf("Reader.Uvarint(%x) = %d, %v; want %d", enc, got, r.Err(), x)
			}
			return map[string]string{"encoded": hex.EncodeToString(enc)}
		})
}

func TestKATBytes(t *testing.T) {
	long := make([]byte, 200)
	for i := range long {
		long[i] = byte(i)
	}
	vectors := []katVector{
		{Name: "empty", In: map[string]string{"data": ""}},
		{Name: "one", In: map[string]string{"data": "ab"}},
		{Name: "127", In: map[string]string{"data": hex.EncodeToString(long[:127])}},
		{Name: "128", In: map[string]string{"data": hex.EncodeToString(long[:128])}},
		{Name: "200", In: map[string]string{"data": hex.EncodeToString(long)}},
	}
	checkKAT(t, "bytes.json", "wire.AppendBytes / AppendString: data (hex) -> varint length || data (hex)", vectors,
		func(t *testing.T, v katVector) map[string]string {
			data := katHex(t, v.In, "data")
			enc := wire.AppendBytes(nil, data)
			if s := wire.AppendString(nil, string(data)); string(s) != string(enc) {
				t.Errorf("AppendString = %x, AppendBytes = %x", s, enc)
			}
			r := wire.NewReader(enc)
			if got := r.Bytes(len(data)); string(got) != string(data) || r.Done() != nil {
				t.Errorf("Reader.Bytes(%x) = %x, %v", enc, got, r.Err())
			}
			return map[string]string{"encoded": hex.EncodeToString(enc)}
		})
}

// TestKATUvarintDecode pins which inputs Reader.Uvarint(max) followed by Done
// accepts: the strictness is part of the protocol (canonical encodings).
func TestKATUvarintDecode(t *testing.T) {
	max64 := dec(1<<64 - 1)
	vectors := []katVector{
		{Name: "zero", In: map[string]string{"input": "00", "max": max64}},
		{Name: "300", In: map[string]string{"input": "ac02", "max": max64}},
		{Name: "max-uint64", In: map[string]string{"input": "ffffffffffffffffff01", "max": max64}},
		{Name: "at-limit", In: map[string]string{"input": "ac02", "max": "300"}},
		{Name: "above-limit", In: map[string]string{"input": "ac02", "max": "299"}},
		{Name: "padded-zero", In: map[string]string{"input": "8000", "max": max64}},
		{Name: "padded-one", In: map[string]string{"input": "818000", "max": max64}},
		{Name: "padded-max", In: map[string]string{"input": "ffffffffffffffff8100", "max": max64}},
		{Name: "overflow-10th-byte", In: map[string]string{"input": "ffffffffffffffffff02", "max": max64}},
		{Name: "eleven-bytes", In: map[string]string{"input": "8080808080808080808001", "max": max64}},
		{Name: "truncated", In: map[string]string{"input": "80", "max": max64}},
		{Name: "empty", In: map[string]string{"input": "", "max": max64}},
		{Name: "trailing", In: map[string]string{"input": "0100", "max": max64}},
	}
	checkKAT(t, "uvarint_decode.json", "wire.Reader.Uvarint(max) then Done on input (hex): ok and value (decimal), or ok=false", vectors,
		func(t *testing.T, v katVector) map[string]string {
			r := wire.NewReader(katHex(t, v.In, "input"))
			x := r.Uvarint(katUint(t, v.In, "max"))
			if err := r.Done(); err != nil {
				return map[string]string{"ok": "false"}
			}
			return map[string]string{"ok": "true", "value": dec(x)}
		})
}
