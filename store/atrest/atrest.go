// Package atrest keeps the data key that encrypts a device's database at
// rest (docs/protocol.md §8.1). The data key is 32 random bytes made when
// the database is created; it never changes. It is kept in a key file beside
// the database (berty.db.key), sealed with XChaCha20-Poly1305 under either
//
//   - a key derived from the user's passphrase by Argon2id (parameters in
//     the file), or
//   - a fixed key, when the user set no passphrase: the directory alone then
//     opens the database, and the encryption only keeps its pages private
//     from what does not also copy the key file (backups of the database
//     alone, a page cache). The daemon warns about it at every start.
//
// Changing the passphrase reseals the data key: the database is not
// rewritten.
package atrest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/berty-go/berty/internal/fsync"
)

// Kind says what seals the data key.
type Kind byte

const (
	// Unprotected: a fixed key; the directory alone opens the database.
	Unprotected Kind = 0
	// Passphrase: a key from the user's passphrase (Argon2id).
	Passphrase Kind = 1
)

func (k Kind) String() string {
	if k == Passphrase {
		return "passphrase"
	}
	return "unprotected"
}

// Params are Argon2id's costs.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams are RFC 9106's second recommended setting (64 MiB, 3 passes,
// 4 lanes): 0.1 s on the project's 2-core machine (docs/benchmarks.md), and
// within a phone's memory.
var DefaultParams = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Bounds on the parameters a key file may ask for: a crafted file must not
// make an unlock take minutes or gigabytes.
const (
	maxTime      = 16
	minMemoryKiB = 8
	MaxMemoryKiB = 256 << 10 // 256 MiB
	maxThreads   = 16
	// maxCost bounds passes × memory: 4 times the default's (about a
	// second here).
	maxCost = 4 * 3 * 64 << 10
)

// Check says whether a key file may ask for p.
func (p Params) Check() error {
	if p.Time < 1 || p.Time > maxTime || p.MemoryKiB < minMemoryKiB || p.MemoryKiB > MaxMemoryKiB || p.Threads < 1 || p.Threads > maxThreads ||
		p.MemoryKiB < 8*uint32(p.Threads) || uint64(p.Time)*uint64(p.MemoryKiB) > maxCost {
		return fmt.Errorf("Argon2id parameters out of bounds (passes 1 to %d, memory %d KiB to %d MiB, 1 to %d lanes, passes × memory at most %d MiB): %d passes, %d KiB, %d lanes",
			maxTime, minMemoryKiB, MaxMemoryKiB>>10, maxThreads, maxCost>>10, p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// Errors.
var (
	ErrWrongPassphrase = errors.New("wrong passphrase")
	ErrNeedPassphrase  = errors.New("the data directory is locked with a passphrase: give it on a terminal, with --passphrase-file or --passphrase-fd")
	// ErrNoKeyFile is for the caller that finds an encrypted database
	// without a key file (Unlock would make a new key).
	ErrNoKeyFile  = errors.New("the database is encrypted but its key file is missing (restore it from where you copied the data directory)")
	ErrBadKeyFile = errors.New("the key file is damaged or not a berty key file")
)

// File layout (all integers big-endian), 103 bytes:
//
//	magic "BRTK" | version 1 | kind | time u32 | memory KiB u32 | threads u8 |
//	salt [16] | nonce [24] | sealed data key [32 + 16]
//
// The first 31 bytes (up to the salt, included) are the AEAD's additional
// data: a changed parameter fails the unseal like a wrong passphrase.
const (
	magic    = "BRTK"
	version  = 1
	headLen  = 4 + 1 + 1 + 4 + 4 + 1 + 16
	fileLen  = headLen + chacha20poly1305.NonceSizeX + 32 + chacha20poly1305.Overhead
	saltLen  = 16
	suffix   = ".key"
	fixedKDF = "berty at-rest unprotected data key v1"
)

// file is a decoded key file.
type file struct {
	kind   Kind
	params Params
	salt   [saltLen]byte
	nonce  [chacha20poly1305.NonceSizeX]byte
	sealed [32 + chacha20poly1305.Overhead]byte
}

func (f *file) head() []byte {
	b := make([]byte, 0, headLen)
	b = append(b, magic...)
	b = append(b, version, byte(f.kind))
	b = binary.BigEndian.AppendUint32(b, f.params.Time)
	b = binary.BigEndian.AppendUint32(b, f.params.MemoryKiB)
	b = append(b, f.params.Threads)
	return append(b, f.salt[:]...)
}

func (f *file) encode() []byte {
	b := f.head()
	b = append(b, f.nonce[:]...)
	return append(b, f.sealed[:]...)
}

// decode parses a key file strictly: exact length, known version and kind,
// parameters within bounds, and an unprotected file's parameters and salt
// all zero.
func decode(b []byte) (*file, error) {
	if len(b) != fileLen || string(b[:4]) != magic {
		return nil, ErrBadKeyFile
	}
	if b[4] != version {
		return nil, fmt.Errorf("%w: version %d (this program reads %d: upgrade berty)", ErrBadKeyFile, b[4], version)
	}
	f := &file{kind: Kind(b[5])}
	f.params = Params{Time: binary.BigEndian.Uint32(b[6:]), MemoryKiB: binary.BigEndian.Uint32(b[10:]), Threads: b[14]}
	copy(f.salt[:], b[15:])
	copy(f.nonce[:], b[headLen:])
	copy(f.sealed[:], b[headLen+len(f.nonce):])
	switch f.kind {
	case Unprotected:
		if f.params != (Params{}) || f.salt != [saltLen]byte{} {
			return nil, ErrBadKeyFile
		}
	case Passphrase:
		if err := f.params.Check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrBadKeyFile, f.kind)
	}
	return f, nil
}

// wrapKey is the key that seals the data key.
func (f *file) wrapKey(pass []byte) []byte {
	if f.kind == Unprotected {
		k := sha256.Sum256([]byte(fixedKDF))
		return k[:]
	}
	return argon2.IDKey(pass, f.salt[:], f.params.Time, f.params.MemoryKiB, f.params.Threads, 32)
}

func (f *file) open(pass []byte) (*[32]byte, error) {
	aead, err := chacha20poly1305.NewX(f.wrapKey(pass))
	if err != nil {
		return nil, err
	}
	k, err := aead.Open(nil, f.nonce[:], f.sealed[:], f.head())
	if err != nil {
		if f.kind == Passphrase {
			return nil, ErrWrongPassphrase
		}
		return nil, ErrBadKeyFile
	}
	var key [32]byte
	copy(key[:], k)
	clear(k)
	return &key, nil
}

// seal makes a key file holding key, sealed by pass (none: unprotected).
func seal(key *[32]byte, pass []byte, p Params, rnd io.Reader) (*file, error) {
	f := &file{kind: Unprotected}
	if len(pass) > 0 {
		f.kind, f.params = Passphrase, p
		if _, err := io.ReadFull(rnd, f.salt[:]); err != nil {
			return nil, err
		}
	}
	if _, err := io.ReadFull(rnd, f.nonce[:]); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(f.wrapKey(pass))
	if err != nil {
		return nil, err
	}
	copy(f.sealed[:], aead.Seal(nil, f.nonce[:], key[:], f.head()))
	return f, nil
}

// KeyPath is the key file of the database at db.
func KeyPath(db string) string { return db + suffix }

// PassFunc returns the user's passphrase. create says a new passphrase is
// being chosen (a prompt asks twice and may accept an empty one: no
// passphrase). It returns ErrNeedPassphrase if it has no way to ask.
type PassFunc func(create bool) ([]byte, error)

// Unlock returns the data key of the database at db. If the database has
// no key file yet, it makes a data key and a key file, sealed by the
// passphrase pass returns for create=true (none if pass is nil or returns
// an empty one); the caller checks first that the database is new or in
// clear (internal/device refuses an encrypted one: ErrNoKeyFile). It
// returns the key file's kind.
func Unlock(db string, pass PassFunc) (*[32]byte, Kind, error) {
	b, err := os.ReadFile(KeyPath(db))
	if errors.Is(err, os.ErrNotExist) {
		return create(db, pass)
	}
	if err != nil {
		return nil, 0, err
	}
	f, err := decode(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", KeyPath(db), err)
	}
	if f.kind == Unprotected {
		k, err := f.open(nil)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", KeyPath(db), err)
		}
		return k, f.kind, nil
	}
	if pass == nil {
		return nil, 0, ErrNeedPassphrase
	}
	p, err := pass(false)
	if err != nil {
		return nil, 0, err
	}
	defer clear(p)
	k, err := f.open(p)
	if err != nil {
		return nil, 0, err
	}
	return k, f.kind, nil
}

func create(db string, pass PassFunc) (*[32]byte, Kind, error) {
	var p []byte
	if pass != nil {
		var err error
		if p, err = pass(true); err != nil && !errors.Is(err, ErrNeedPassphrase) {
			return nil, 0, err
		}
		defer clear(p)
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, 0, err
	}
	f, err := seal(&key, p, DefaultParams, rand.Reader)
	if err != nil {
		return nil, 0, err
	}
	if err := fsync.WriteAtomic(KeyPath(db), f.encode()); err != nil {
		return nil, 0, err
	}
	return &key, f.kind, nil
}

// Change reseals the data key of the database at db: old gives the current
// passphrase (asked only if there is one), next the new one (empty: no
// passphrase). The database is not touched. It returns the new kind.
func Change(db string, old PassFunc, next []byte, p Params) (Kind, error) {
	if len(next) > 0 {
		if err := p.Check(); err != nil {
			return 0, err
		}
	}
	key, _, err := unlockExisting(db, old)
	if err != nil {
		return 0, err
	}
	defer clear(key[:])
	f, err := seal(key, next, p, rand.Reader)
	if err != nil {
		return 0, err
	}
	return f.kind, fsync.WriteAtomic(KeyPath(db), f.encode())
}

// Status is the kind of the database's key file; ok is false if it has none.
func Status(db string) (k Kind, ok bool, err error) {
	b, err := os.ReadFile(KeyPath(db))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	f, err := decode(b)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", KeyPath(db), err)
	}
	return f.kind, true, nil
}

func unlockExisting(db string, pass PassFunc) (*[32]byte, Kind, error) {
	if _, ok, err := Status(db); err != nil {
		return nil, 0, err
	} else if !ok {
		return nil, 0, fmt.Errorf("%s: no key file: start the node once to create it", KeyPath(db))
	}
	return Unlock(db, pass)
}
