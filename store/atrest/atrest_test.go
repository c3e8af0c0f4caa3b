package atrest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// cheap keeps the tests fast; the format carries the parameters.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func init() { DefaultParams = cheap }

func pass(p string) PassFunc {
	return func(bool) ([]byte, error) { return []byte(p), nil }
}

// TestKnownAnswer pins the key file format and its KDF: a fixed data key,
// passphrase, salt and nonce give these exact bytes (docs/protocol.md §8.1).
// libsodium's Argon2id and XChaCha20-Poly1305 give the same bytes:
// testdata/libsodium_check.py.
func TestKnownAnswer(t *testing.T) {
	key := [32]byte{}
	for i := range key {
		key[i] = byte(i)
	}
	rnd := bytes.NewReader(bytes.Repeat([]byte{0x42}, 64))
	f, err := seal(&key, []byte("correct horse battery staple"), Params{Time: 1, MemoryKiB: 64, Threads: 1}, rnd)
	if err != nil {
		t.Fatal(err)
	}
	const want = "4252544b010100000001000000400142424242424242424242424242424242424242424242424242424242424242424242424242424242" +
		"f7f4a51a19ede2981ba55d2ec473ed36b514e4dd75be5c53312921bf6333e8bb50b8d34dfcad09b4ab30b9b4b66e502d"
	got := hex.EncodeToString(f.encode())
	if got != want {
		t.Errorf("passphrase key file:\n got %s\nwant %s", got, want)
	}
	u, err := seal(&key, nil, Params{}, bytes.NewReader(bytes.Repeat([]byte{0x24}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	const wantU = "4252544b010000000000000000000000000000000000000000000000000000242424242424242424242424242424242424242424242424" +
		"eee0a5bcf88f0f7317e3bf7a8f287d2dc02b7e7d8f274371ad5165d02bc1208df64390a22e993e203a719e99a61644b4"
	if got := hex.EncodeToString(u.encode()); got != wantU {
		t.Errorf("unprotected key file:\n got %s\nwant %s", got, wantU)
	}
	k, err := f.open([]byte("correct horse battery staple"))
	if err != nil || *k != key {
		t.Fatalf("open: %x, %v", k, err)
	}
}

func TestUnlockCreatesThenOpens(t *testing.T) {
	db := filepath.Join(t.TempDir(), "berty.db")
	k1, kind, err := Unlock(db, pass("s3cret"))
	if err != nil || kind != Passphrase {
		t.Fatalf("create: %v %v", kind, err)
	}
	st, err := os.Stat(KeyPath(db))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	k2, _, err := Unlock(db, pass("s3cret"))
	if err != nil || *k1 != *k2 {
		t.Fatalf("reopen: %v", err)
	}
	if _, _, err := Unlock(db, pass("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, _, err := Unlock(db, nil); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("no passphrase source: %v", err)
	}
}

func TestNoPassphraseIsUnprotected(t *testing.T) {
	db := filepath.Join(t.TempDir(), "berty.db")
	for _, p := range []PassFunc{nil, pass(""), func(bool) ([]byte, error) { return nil, ErrNeedPassphrase }} {
		os.Remove(KeyPath(db))
		k1, kind, err := Unlock(db, p)
		if err != nil || kind != Unprotected {
			t.Fatalf("create: %v %v", kind, err)
		}
		k2, _, err := Unlock(db, nil)
		if err != nil || *k1 != *k2 {
			t.Fatalf("reopen: %v", err)
		}
	}
}

// TestChangeKeepsTheDataKey: setting, changing and removing the passphrase
// reseal the same data key; the old passphrase stops working.
func TestChangeKeepsTheDataKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "berty.db")
	k, _, err := Unlock(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kind, err := Change(db, nil, []byte("one"), cheap); err != nil || kind != Passphrase {
		t.Fatalf("set: %v %v", kind, err)
	}
	if kind, err := Change(db, pass("one"), []byte("two"), cheap); err != nil || kind != Passphrase {
		t.Fatalf("change: %v %v", kind, err)
	}
	if _, err := Change(db, pass("one"), []byte("three"), cheap); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("change with the old passphrase: %v", err)
	}
	k2, _, err := Unlock(db, pass("two"))
	if err != nil || *k2 != *k {
		t.Fatalf("unlock with the new passphrase: %v", err)
	}
	if kind, err := Change(db, pass("two"), nil, cheap); err != nil || kind != Unprotected {
		t.Fatalf("remove: %v %v", kind, err)
	}
	k3, _, err := Unlock(db, nil)
	if err != nil || *k3 != *k {
		t.Fatalf("unlock unprotected: %v", err)
	}
}

// TestKeyFileTampering: a changed byte anywhere (parameters included, which
// an attacker would lower to speed up guessing) fails; so does a file cut
// short or of another kind.
func TestKeyFileTampering(t *testing.T) {
	db := filepath.Join(t.TempDir(), "berty.db")
	if _, _, err := Unlock(db, pass("pw")); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(KeyPath(db))
	for i := range orig {
		bad := bytes.Clone(orig)
		bad[i] ^= 0x01
		os.WriteFile(KeyPath(db), bad, 0o600)
		if _, _, err := Unlock(db, pass("pw")); err == nil {
			t.Fatalf("byte %d changed: unlocked", i)
		}
	}
	os.WriteFile(KeyPath(db), orig[:len(orig)-1], 0o600)
	if _, _, err := Unlock(db, pass("pw")); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("short file: %v", err)
	}
}

func TestParamsBounds(t *testing.T) {
	for _, p := range []Params{{0, 64, 1}, {17, 64, 1}, {1, 4, 1}, {1, 2 << 20, 1}, {1, 257 << 10, 1}, {16, 256 << 10, 4}, {5, 160 << 10, 4}, {1, 64, 0}, {1, 64, 17}, {1, 8, 2}} {
		f := &file{kind: Passphrase, params: p}
		if _, err := decode(f.encode()); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("params %+v: %v, want refused", p, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	key := [32]byte{1}
	g, _ := seal(&key, []byte("x"), cheap, bytes.NewReader(make([]byte, 64)))
	f.Add(g.encode())
	u, _ := seal(&key, nil, Params{}, bytes.NewReader(make([]byte, 64)))
	f.Add(u.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(d.encode(), b) {
			t.Fatalf("decode/encode not the identity")
		}
		if d.kind == Unprotected {
			d.open(nil)
		}
	})
}

// BenchmarkUnlock is the wait at each start with a passphrase: Argon2id at
// the default costs (RFC 9106's second setting), then the unseal.
func BenchmarkUnlock(b *testing.B) {
	key := [32]byte{1}
	p := Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
	f, err := seal(&key, []byte("a passphrase"), p, bytes.NewReader(make([]byte, 64)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.open([]byte("a passphrase")); err != nil {
			b.Fatal(err)
		}
	}
}
