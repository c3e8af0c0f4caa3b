package wire_test

import (
	"testing"

	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for the wire codec. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

func TestKATUvarint(t *testing.T) {
	var vectors []kat.Vector
	for _, v := range []uint64{0, 1, 127, 128, 255, 300, 16383, 16384, 1<<32 - 1, 1 << 48, 1 << 62, 1 << 63, 1<<64 - 1} {
		vectors = append(vectors, kat.Vector{Name: kat.Dec(v), In: map[string]string{"value": kat.Dec(v)}})
	}
	kat.Check(t, "uvarint.json", "wire.AppendUvarint: value (decimal) -> minimal LEB128 encoding (hex)", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			x := kat.Uint(t, v.In, "value")
			enc := wire.AppendUvarint(nil, x)
			r := wire.NewReader(enc)
			if got := r.Uvarint(1<<64 - 1); got != x || r.Done() != nil {
				t.Errorf("Reader.Uvarint(%x) = %d, %v; want %d", enc, got, r.Err(), x)
			}
			return map[string]string{"encoded": kat.H(enc)}
		})
}

func TestKATBytes(t *testing.T) {
	long := make([]byte, 200)
	for i := range long {
		long[i] = byte(i)
	}
	vectors := []kat.Vector{
		{Name: "empty", In: map[string]string{"data": ""}},
		{Name: "one", In: map[string]string{"data": "ab"}},
		{Name: "127", In: map[string]string{"data": kat.H(long[:127])}},
		{Name: "128", In: map[string]string{"data": kat.H(long[:128])}},
		{Name: "200", In: map[string]string{"data": kat.H(long)}},
	}
	kat.Check(t, "bytes.json", "wire.AppendBytes / AppendString: data (hex) -> varint length || data (hex)", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			data := kat.Hex(t, v.In, "data")
			enc := wire.AppendBytes(nil, data)
			if s := wire.AppendString(nil, string(data)); string(s) != string(enc) {
				t.Errorf("AppendString = %x, AppendBytes = %x", s, enc)
			}
			r := wire.NewReader(enc)
			if got := r.Bytes(len(data)); string(got) != string(data) || r.Done() != nil {
				t.Errorf("Reader.Bytes(%x) = %x, %v", enc, got, r.Err())
			}
			return map[string]string{"encoded": kat.H(enc)}
		})
}

// TestKATUvarintDecode pins which inputs Reader.Uvarint(max) followed by Done
// accepts: the strictness is part of the protocol (canonical encodings).
func TestKATUvarintDecode(t *testing.T) {
	max64 := kat.Dec(1<<64 - 1)
	vectors := []kat.Vector{
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
	kat.Check(t, "uvarint_decode.json", "wire.Reader.Uvarint(max) then Done on input (hex): ok and value (decimal), or ok=false", vectors,
		func(t *testing.T, v kat.Vector) map[string]string {
			r := wire.NewReader(kat.Hex(t, v.In, "input"))
			x := r.Uvarint(kat.Uint(t, v.In, "max"))
			if err := r.Done(); err != nil {
				return map[string]string{"ok": "false"}
			}
			return map[string]string{"ok": "true", "value": kat.Dec(x)}
		})
}
