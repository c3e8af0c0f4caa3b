package sqlite

import (
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
	if o.strict && flags&vfs.OPEN_MAIN_DB != 0 {
		return &strictFile{File: f}, out, nil
	}
	return f, out, nil
}

// strictFile is an encrypted main database file as Adiantum reads it, in
// whole 4 KiB blocks. A block read short — the file cut inside a block — or
// a block past the end of the file — pages cut off while the log still
// counts them — is an error (SQLITE_IOERR_DATA, ErrTampered), not the zeros
// SQLite would put in its place: a zeroed page has a valid checksum (zero),
// so it would read as empty data. Page writes are whole blocks (4 KiB pages),
// so no legitimate read of the main database falls past its end; reading
// the header of an empty (new) file is the one exception.
type strictFile struct{ vfs.File }

func (f *strictFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if n < len(p) && (n > 0 || off > 0) {
		return n, sqlite3.IOERR_DATA
	}
	if n < len(p) && err == nil {
		err = io.EOF
	}
	return n, err
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
