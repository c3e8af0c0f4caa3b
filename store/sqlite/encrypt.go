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

	"github.com/berty-go/berty/internal/fsync"
)

// Kind is what a database file holds, from its first bytes.
type Kind int

const (
	KindEmpty     Kind = iota // missing or zero-length: a new database
	KindPlain                 // starts with SQLite's header in clear
	KindEncrypted             // anything else: pages under a key
)

// FileKind says what the database file at path holds.
func FileKind(path string) (Kind, error) { return fileKind(path) }

// ErrNotMarked is returned by OpenWith with a key on a plaintext database
// that was not marked for encryption.
var ErrNotMarked = errors.New("the database is in clear though the directory has a key: it was replaced (a plaintext database from before encryption at rest is converted only on the open that makes the directory's key)")

// MarkForEncryption records, durably, that the plaintext database at path
// is to be converted by the next OpenWith with a key, however many opens
// a crash interrupts. Only the caller that makes the directory's key marks
// it: a plaintext file put in place of an encrypted database later is
// refused (ErrNotMarked), not adopted under the user's key. The mark is the
// conversion's own work file, renamed over the database when it is done.
func MarkForEncryption(path string) error {
	if err := os.WriteFile(path+".encrypting", nil, 0o600); err != nil {
		return err
	}
	return fsync.Sync(filepath.Dir(path))
}

func marked(path string) bool {
	_, err := os.Stat(path + ".encrypting")
	return err == nil
}

// plainHeader starts every plaintext SQLite database.
var plainHeader = []byte("SQLite format 3\x00")

func fileKind(path string) (Kind, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return KindEmpty, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, len(plainHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF):
		return KindEmpty, nil
	case bytes.Equal(head[:n], plainHeader):
		return KindPlain, nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return 0, err
	}
	return KindEncrypted, nil
}

// encryptInPlace converts the plaintext database at path into an encrypted
// one under key, crash-safely: the encrypted copy is built beside it
// (path + ".encrypting", the mark), checked, synced, and renamed over the
// plaintext file in one step. A crash before the rename leaves the
// plaintext database whole and the mark in place (the next open starts
// over); after it, the encrypted one.
//
// step, if set, is called between the steps with their names: tests crash
// the conversion there.
func encryptInPlace(path string, key *[32]byte, step func(string) error) error {
	if step == nil {
		step = func(string) error { return nil }
	}
	tmp := path + ".encrypting"
	// The work file is the mark (MarkForEncryption): emptied, never
	// removed, until it is renamed over the database.
	for _, f := range []string{tmp + "-wal", tmp + "-journal", tmp + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return err
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
	dst, err := sqlite3.Open("file:" + (&url.URL{Path: tmp}).EscapedPath() + "?vfs=" + vfsEncrypted)
	if err != nil {
		return err
	}
	defer func() { dst.Close() }() // whichever connection is open; nil once closed

	for _, q := range []string{`PRAGMA hexkey = '` + hex.EncodeToString(key[:]) + `'`, `PRAGMA temp_store = MEMORY`} {
		if err := dst.Exec(q); err != nil {
			return err
		}
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
	err = dst.Close()
	dst = nil
	if err != nil {
		return err
	}
	if dst, err = sqlite3.Open("file:" + (&url.URL{Path: tmp}).EscapedPath() + "?vfs=" + vfsEncrypted); err != nil {
		return err
	}
	for _, q := range []string{`PRAGMA hexkey = '` + hex.EncodeToString(key[:]) + `'`, `PRAGMA temp_store = MEMORY`, `PRAGMA schema_version`, `PRAGMA checksum_verification = OFF`, `VACUUM`, `PRAGMA checksum_verification = ON`} {
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
	err = dst.Close()
	dst = nil
	if err != nil {
		return err
	}
	if err := fsync.Sync(tmp); err != nil {
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
	return fsync.Sync(filepath.Dir(path))
}
