package sqlite

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/adiantum"
)

// The VFSes the store opens its files through: the operating system's,
// with every file it creates made readable by its owner only (the driver
// creates them with the umask's mode, and SQLite creates the log anew after
// each clean close), and the same under Adiantum encryption, where the main
// database's reads are strict (strictFile).
const (
	vfsPlain     = "berty"
	vfsEncrypted = "berty-adiantum"
)

func init() {
	vfs.Register(vfsPlain, ownerOnly{VFS: vfs.Find("")})
	vfs.Register(vfsEncrypted, adiantum.Wrap(ownerOnly{VFS: vfs.Find(""), strict: true}, nil))
}

type ownerOnly struct {
	vfs.VFS
	strict bool
}

func (o ownerOnly) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, out, err := vfsutil.WrapOpenFilename(o.VFS, name, flags)
	if err != nil {
		return f, out, err
	}
	if name != nil && flags&vfs.OPEN_CREATE != 0 {
		if err := os.Chmod(name.String(), 0o600); err != nil {
			f.Close()
			return nil, out, err
		}
	}
	switch {
	case o.strict && flags&vfs.OPEN_MAIN_DB != 0:
		return &strictFile{File: f}, out, nil
	case o.strict:
		return &strictFile{File: f, mask: true}, out, nil
	}
	return f, out, nil
}

// logMask separates the log's and journals' blocks from the database's.
// Adiantum keys every file of a database with the same key and tweaks a
// block by its offset alone, so a log block holding a whole page image is,
// at the same offset of the database file, a valid ciphertext of that
// image: moved there, it would read as a page with a valid checksum in
// another page's place. Under the cipher, the other files' blocks are XORed
// with this fixed mask, so that a block moved from one kind of file to the
// other decrypts to noise (and fails its checksum, or the log's).
var logMask = func() (m [4096]byte) {
	for i := 0; i < len(m); i += sha256.Size {
		h := sha256.Sum256(fmt.Appendf(nil, "berty at-rest log mask v1 %d", i/sha256.Size))
		copy(m[i:], h[:])
	}
	return m
}()

func maskAt(p []byte, off int64) {
	for len(p) > 0 {
		at := int(off % int64(len(logMask)))
		n := subtle.XORBytes(p, p, logMask[at:])
		p, off = p[n:], off+int64(n)
	}
}

// strictFile is an encrypted main database file as Adiantum reads it, in
// whole 4 KiB blocks. A block read short — the file cut inside a block — or
// a block past the end of the file — pages cut off while the log still
// counts them — is an error (SQLITE_IOERR_DATA, ErrTampered), not the zeros
// SQLite would put in its place: a zeroed page has a valid checksum (zero),
// so it would read as empty data. Page writes are whole blocks (4 KiB pages),
// so no legitimate read of the main database falls past its end; reading
// the header of an empty (new) file is the one exception.
//
// With mask set, it is one of the database's other files (log, journals):
// reads are as the OS gives them, and blocks are masked (logMask).
type strictFile struct {
	vfs.File
	mask bool
	buf  []byte
}

func (f *strictFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if f.mask {
		maskAt(p[:n], off)
		return n, err
	}
	if n < len(p) && (n > 0 || off > 0) {
		return n, sqlite3.IOERR_DATA
	}
	if n < len(p) && err == nil {
		err = io.EOF
	}
	return n, err
}

func (f *strictFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.mask {
		return f.File.WriteAt(p, off)
	}
	f.buf = append(f.buf[:0], p...)
	maskAt(f.buf, off)
	return f.File.WriteAt(f.buf, off)
}

// What the layers above ask of a file besides vfs.File, passed through.

func (f *strictFile) Unwrap() vfs.File                { return f.File }
func (f *strictFile) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(f.File) }
func (f *strictFile) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(f.File) }
func (f *strictFile) PersistentWAL() bool             { return vfsutil.WrapPersistWAL(f.File) }
func (f *strictFile) SetPersistentWAL(keep bool)      { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *strictFile) ChunkSize(size int)              { vfsutil.WrapChunkSize(f.File, size) }
func (f *strictFile) SizeHint(size int64) error       { return vfsutil.WrapSizeHint(f.File, size) }
func (f *strictFile) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(f.File) }
func (f *strictFile) Overwrite() error                { return vfsutil.WrapOverwrite(f.File) }
func (f *strictFile) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(f.File, super) }
func (f *strictFile) CommitPhaseTwo() error           { return vfsutil.WrapCommitPhaseTwo(f.File) }
func (f *strictFile) BeginAtomicWrite() error         { return vfsutil.WrapBeginAtomicWrite(f.File) }
func (f *strictFile) CommitAtomicWrite() error        { return vfsutil.WrapCommitAtomicWrite(f.File) }
func (f *strictFile) RollbackAtomicWrite() error      { return vfsutil.WrapRollbackAtomicWrite(f.File) }
func (f *strictFile) CheckpointStart()                { vfsutil.WrapCheckpointStart(f.File) }
func (f *strictFile) CheckpointDone()                 { vfsutil.WrapCheckpointDone(f.File) }
func (f *strictFile) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *strictFile) Pragma(name, value string) (string, error) {
	return vfsutil.WrapPragma(f.File, name, value)
}
