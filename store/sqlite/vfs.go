package sqlite

import (
	"os"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/adiantum"
)

// The VFSes the store opens its files through: the operating system's,
// with every file it creates made readable by its owner only (the driver
// creates them with the umask's mode, and SQLite creates the log anew after
// each clean close), and the same under Adiantum encryption.
const (
	vfsPlain     = "berty"
	vfsEncrypted = "berty-adiantum"
)

func init() {
	base := ownerOnly{vfs.Find("")}
	vfs.Register(vfsPlain, base)
	vfs.Register(vfsEncrypted, adiantum.Wrap(base, nil))
}

type ownerOnly struct{ vfs.VFS }

func (o ownerOnly) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, out, err := vfsutil.WrapOpenFilename(o.VFS, name, flags)
	if err == nil && name != nil && flags&vfs.OPEN_CREATE != 0 {
		if err := os.Chmod(name.String(), 0o600); err != nil {
			f.Close()
			return nil, out, err
		}
	}
	return f, out, err
}
