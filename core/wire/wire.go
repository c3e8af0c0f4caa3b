// Package wire is the strict binary codec shared by every Berty format.
//
// Every format in docs/protocol.md (§2) is a fixed sequence of fields:
// fixed-size byte strings, unsigned varints and length-prefixed byte strings.
// Encoding is canonical — there is exactly one encoding of a value — so that
// hashes and signatures over encodings are well defined. The [Reader] enforces
// that: it refuses non-minimal varints, lengths above the caller's limit,
// truncated input and (via [Reader.Done]) trailing bytes.
//
// The Reader never panics on any input and never allocates more than the input
// size; fuzz targets in this package and in every format package check that.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error, so callers can tell bad
// input from other failures with errors.Is.
var ErrMalformed = errors.New("malformed")

// AppendUvarint appends v as a minimal unsigned LEB128 varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendBytes appends a varint length followed by p.
func AppendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendString appends a varint length followed by s.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Reader decodes a byte slice field by field. The first error sticks: later
// reads return zero values and Err reports the first failure, so decoders can
// read every field and check once.
//
// Byte slices returned by Reader alias the input; callers copy what they keep
// beyond the input's lifetime.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decoding error, or nil.
func (r *Reader) Err() error { return r.err }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Fail records err (wrapped in ErrMalformed) unless an error is already set.
// Format decoders use it for semantic checks (an unknown kind, a zero key).
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

// Done fails if any input is left, and returns Err.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.Fail("%d trailing bytes", len(r.buf)-r.off)
	}
	return r.err
}

// Fixed reads exactly n bytes.
func (r *Reader) Fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.off < n {
		r.Fail("truncated: need %d bytes at offset %d", n, r.off)
		return nil
	}
	p := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

// Fixed32 reads exactly 32 bytes into an array.
func (r *Reader) Fixed32() (a [32]byte) {
	copy(a[:], r.Fixed(32))
	return a
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	p := r.Fixed(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// Uvarint reads a minimal unsigned varint no larger than max.
func (r *Reader) Uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		r.Fail("bad varint at offset %d", r.off)
		return 0
	}
	// binary.Uvarint accepts padded encodings such as 0x80 0x00; canonical
	// form requires the shortest one.
	if n != uvarintLen(v) {
		r.Fail("non-minimal varint at offset %d", r.off)
		return 0
	}
	if v > max {
		r.Fail("value %d above limit %d at offset %d", v, max, r.off)
		return 0
	}
	r.off += n
	return v
}

// Bytes reads a varint length (at most max) and that many bytes.
func (r *Reader) Bytes(max int) []byte {
	n := r.Uvarint(uint64(max))
	return r.Fixed(int(n))
}

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.Bytes(max)) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
