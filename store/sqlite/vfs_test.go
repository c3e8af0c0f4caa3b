package sqlite

import (
	"bytes"
	"io"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"
)

// memFile is the part of a vfs.File that strictFile reads and writes.
type memFile struct {
	vfs.File
	b []byte
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// TestLogBlocksMasked: the log's blocks (and journals') are stored XORed
// with logMask under the cipher, the database's are not, so a block copied
// from one kind of file to the other at the same offset does not decrypt to
// what it held (TestLogBlockTransplantDetected is the attack). Reads give
// back what was written, at any offset and length.
func TestLogBlocksMasked(t *testing.T) {
	data := bytes.Repeat([]byte("page image "), 800)[:8192]
	for _, main := range []bool{true, false} {
		m := &memFile{}
		f := &strictFile{File: m, mask: !main}
		if _, err := f.WriteAt(data[100:5000], 100); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4900)
		if _, err := f.ReadAt(got, 100); err != nil || !bytes.Equal(got, data[100:5000]) {
			t.Fatalf("main=%v: read back %v", main, err)
		}
		if same := bytes.Equal(m.b[100:5000], data[100:5000]); same != main {
			t.Errorf("main=%v: stored as written: %v, want %v", main, same, main)
		}
	}
}

// TestStrictReads: a main database block read short, or past the end of
// the file, is an error; the header read of an empty file is not.
func TestStrictReads(t *testing.T) {
	f := &strictFile{File: &memFile{b: make([]byte, 4096+100)}}
	p := make([]byte, 4096)
	if _, err := f.ReadAt(p, 0); err != nil {
		t.Errorf("a whole block: %v", err)
	}
	if _, err := f.ReadAt(p, 4096); err == nil {
		t.Error("a block read short: no error")
	}
	if _, err := f.ReadAt(p, 8192); err == nil {
		t.Error("a block past the end: no error")
	}
	empty := &strictFile{File: &memFile{}}
	if n, err := empty.ReadAt(make([]byte, 100), 0); n != 0 || err != io.EOF {
		t.Errorf("the header of an empty file: %d, %v; want 0, EOF", n, err)
	}
}
