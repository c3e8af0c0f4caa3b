package sqlite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
)

type kind int

const (
	kindEmpty     kind = iota // missing or zero-length: a new database
	kindPlain                 // starts with SQLite's header in clear
	kindEncrypted             // anything else: pages under a key
)

// plainHeader starts every plaintext SQLite database.
var plainHeader = []byte("SQLite format 3\x00")

func fileKind(path string) (kind, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return kindEmpty, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, len(plainHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF):
		return kindEmpty, nil
	case bytes.Equal(head[:n], plainHeader):
		return kindPlain, nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return 0, err
	}
	return kindEncrypted, nil
}

// encryptInPlace converts the plaintext database at path into an encrypted
// one under key, crash-safely: the encrypted copy is built beside it
// (path + ".encrypting"), checked, synced, and renamed over the plaintext
// file in one step. A crash before the rename leaves the plaintext database
// whole (the next open starts over); after it, the encrypted one.
//
// step, if set, is called between the steps with their names: tests crash
// the conversion there.
func encryptInPlace(path string, key *[32]byte, step func(string) error) error {
	if step == nil {
		step = func(string) error { return nil }
	}
	tmp := path + ".encrypting"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-journal", tmp + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// Fold the plaintext write-ahead log into the file, so that the file
	// alone is the database and no plaintext log is left beside the
	// encrypted one.
	src, err := sqlite3.Open("file:" + (&url.URL{Path: path}).EscapedPath() + "?vfs=" + vfsPlain)
	if err != nil {
		return err
	}
	if err := src.Exec(`PRAGMA journal_mode = DELETE`); err != nil {
		src.Close()
		return err
	}
	if err := src.Close(); err != nil {
		return err
	}
	if err := step("checkpointed"); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return err
	}
	dst, err := sqlite3.Open("file:" + (&url.URL{Path: tmp}).EscapedPath() + "?vfs=" + vfsEncrypted)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := dst.Exec(`PRAGMA hexkey = '` + hex.EncodeToString(key[:]) + `'`); err != nil {
		return err
	}
	if err := dst.Restore("main", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&vfs="+vfsPlain); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := step("copied"); err != nil {
		return err
	}
	if err := dst.EnableChecksums("main"); err != nil {
		return fmt.Errorf("page checksums: %w", err)
	}
	// That VACUUM may write pages before the header that turns checksums
	// on (a cache spill): those pages lack theirs. A second VACUUM, on a
	// connection that read the header (the checksum pragma acts on what
	// the connection read of it), rewrites every page with its checksum
	// (the old ones read unverified).
	if err := dst.Close(); err != nil {
		return err
	}
	if dst, err = sqlite3.Open("file:" + (&url.URL{Path: tmp}).EscapedPath() + "?vfs=" + vfsEncrypted); err != nil {
		return err
	}
	for _, q := range []string{`PRAGMA hexkey = '` + hex.EncodeToString(key[:]) + `'`, `PRAGMA schema_version`, `PRAGMA checksum_verification = OFF`, `VACUUM`, `PRAGMA checksum_verification = ON`} {
		if err := dst.Exec(q); err != nil {
			return fmt.Errorf("page checksums: %w", err)
		}
	}
	var check string
	st, _, err := dst.Prepare(`PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	if st.Step() {
		check = st.ColumnText(0)
	}
	if err := st.Close(); err != nil {
		return err
	}
	if check != "ok" {
		return fmt.Errorf("the encrypted copy fails its integrity check: %s", check)
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := step("synced"); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := step("renamed"); err != nil {
		return err
	}
	return syncFile(filepath.Dir(path))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
