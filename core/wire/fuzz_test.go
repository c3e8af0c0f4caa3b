package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/berty-go/berty/core/wire"
)

// Operations of the little read programs FuzzReader runs. Each program byte
// selects an operation (modulo opCount); operations with a parameter take it
// from the next program byte.
const (
	opFixed   = iota // Fixed(int(int8(arg)))
	opFixed32        // Fixed32()
	opByte           // Byte()
	opUvarint        // Uvarint(fuzzLimits[arg])
	opBytes          // Bytes(fuzzByteLimits[arg])
	opString         // String(fuzzByteLimits[arg])
	opDone           // Done()
	opCount
)

var (
	fuzzLimits     = []uint64{0, 1, 127, 128, 255, 300, 1 << 14, 1<<32 - 1, 1 << 48, 1 << 63, math.MaxUint64}
	fuzzByteLimits = []int{-1, 0, 1, 5, 32, 127, 128, 1 << 16, math.MaxInt}
)

// FuzzReader runs a program of reads over arbitrary input and checks the
// Reader's contract after every read: it never panics, the first error
// sticks, a failed read returns the zero value, a successful read returns
// exactly the bytes it consumed (canonically encoded, within its limit), and
// returned slices cannot be appended into the rest of the input.
func FuzzReader(f *testing.F) {
	valid := wire.AppendUvarint(nil, 300)
	valid = wire.AppendBytes(valid, []byte("hello"))
	valid = append(valid, bytes.Repeat([]byte{7}, 32)...)
	valid = append(valid, 0x42)
	valid = wire.AppendString(valid, "berty")
	prog := []byte{opUvarint, 5, opBytes, 3, opFixed32, opByte, opString, 4, opDone}
	f.Add(prog, valid)
	for i := range valid {
		f.Add(prog, valid[:i])
	}
	f.Add(prog, append(bytes.Clone(valid), 0))
	f.Add([]byte{opUvarint, 10, opDone}, []byte{0x80, 0x00})
	f.Add([]byte{opUvarint, 10, opDone}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{opUvarint, 0, opDone}, []byte{0x01})
	f.Add([]byte{opFixed, 0xff, opByte}, []byte{1, 2, 3})
	f.Add([]byte{opBytes, 0, opBytes, 8, opDone}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{opByte, opByte, opByte, opDone}, []byte{})
	f.Fuzz(func(t *testing.T, prog, data []byte) {
		input := bytes.Clone(data)
		r := wire.NewReader(data)
		var sticky error
		for pc := 0; pc < len(prog); pc++ {
			op := int(prog[pc]) % opCount
			var arg byte
			switch op {
			case opFixed, opUvarint, opBytes, opString:
				if pc+1 < len(prog) {
					pc++
					arg = prog[pc]
				}
			}
			off := r.Offset()
			rest := data[off:]
			var (
				zero     bool   // the read returned its zero value
				consumed []byte // the bytes a successful read must have consumed
			)
			switch op {
			case opFixed:
				n := int(int8(arg))
				p := r.Fixed(n)
				zero = p == nil
				if r.Err() == nil {
					if cap(p) != len(p) {
						t.Fatalf("Fixed(%d) returned a slice with spare capacity %d", n, cap(p)-len(p))
					}
					consumed = p
				}
				if sticky == nil && (r.Err() == nil) != (n >= 0 && n <= len(rest)) {
					t.Fatalf("Fixed(%d) with %d bytes left: err = %v", n, len(rest), r.Err())
				}
			case opFixed32:
				a := r.Fixed32()
				zero = a == [32]byte{}
				consumed = a[:]
				if sticky == nil && (r.Err() == nil) != (len(rest) >= 32) {
					t.Fatalf("Fixed32 with %d bytes left: err = %v", len(rest), r.Err())
				}
			case opByte:
				b := r.Byte()
				zero = b == 0
				consumed = []byte{b}
				if sticky == nil && (r.Err() == nil) != (len(rest) >= 1) {
					t.Fatalf("Byte with %d bytes left: err = %v", len(rest), r.Err())
				}
			case opUvarint:
				limit := fuzzLimits[int(arg)%len(fuzzLimits)]
				v := r.Uvarint(limit)
				zero = v == 0
				consumed = binary.AppendUvarint(nil, v)
				if sticky == nil && (r.Err() == nil) != canonicalUvarint(rest, limit) {
					t.Fatalf("Uvarint(%d) on %x: err = %v", limit, rest, r.Err())
				}
			case opBytes, opString:
				limit := fuzzByteLimits[int(arg)%len(fuzzByteLimits)]
				var p []byte
				if op == opBytes {
					p = r.Bytes(limit)
					zero = p == nil
				} else {
					s := r.String(limit)
					zero = s == ""
					p = []byte(s)
				}
				if r.Err() == nil && uint64(len(p)) > uint64(limit) {
					t.Fatalf("Bytes(%d) returned %d bytes", limit, len(p))
				}
				consumed = binary.AppendUvarint(nil, uint64(len(p)))
				consumed = append(consumed, p...)
				if sticky == nil && (r.Err() == nil) != validBytes(rest, limit) {
					t.Fatalf("Bytes(%d) on %x: err = %v", limit, rest, r.Err())
				}
			case opDone:
				err := r.Done()
				if err != r.Err() {
					t.Fatalf("Done() = %v, Err() = %v", err, r.Err())
				}
				if sticky == nil && (err == nil) != (off == len(data)) {
					t.Fatalf("Done at offset %d of %d: %v", off, len(data), err)
				}
			}
			err := r.Err()
			switch {
			case sticky != nil:
				if err != sticky || r.Offset() != off || (op != opDone && !zero) {
					t.Fatalf("op %d after error %v: err = %v, offset %d -> %d, zero result %v", op, sticky, err, off, r.Offset(), zero)
				}
			case err != nil:
				if !errors.Is(err, wire.ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				if op != opDone && !zero {
					t.Fatalf("op %d failed with %v but returned a non-zero value", op, err)
				}
				sticky = err
			default:
				if !bytes.Equal(data[off:r.Offset()], consumed) {
					t.Fatalf("op %d consumed %x but returned the encoding %x", op, data[off:r.Offset()], consumed)
				}
			}
			if r.Offset() < off || r.Offset() > len(data) {
				t.Fatalf("offset moved from %d to %d (input %d bytes)", off, r.Offset(), len(data))
			}
		}
		if !bytes.Equal(data, input) {
			t.Fatal("Reader modified its input")
		}
	})
}

// canonicalUvarint is the reference for Reader.Uvarint: the input starts with
// a well-formed, minimal varint no larger than limit.
func canonicalUvarint(b []byte, limit uint64) bool {
	v, n := binary.Uvarint(b)
	return n > 0 && n == len(binary.AppendUvarint(nil, v)) && v <= limit
}

// validBytes is the reference for Reader.Bytes: a canonical length within
// limit followed by at least that many bytes.
func validBytes(b []byte, limit int) bool {
	if !canonicalUvarint(b, uint64(limit)) {
		return false
	}
	v, n := binary.Uvarint(b)
	return v <= uint64(len(b)-n)
}
