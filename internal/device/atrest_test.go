package device_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/store/atrest"
	"github.com/berty-go/berty/store/sqlite"
)

func openDevice(t *testing.T, cfg device.Config) (*device.Device, error) {
	t.Helper()
	cfg.Net = p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	d, err := device.Open(cfg)
	if err == nil {
		t.Cleanup(func() { d.Close() })
	}
	return d, err
}

// TestUpgradeFromPlaintext: a device from before encryption at rest (its
// database in clear, no key file) opens as the same account, its database
// now encrypted under a new key file.
func TestUpgradeFromPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	old, err := openDevice(t, device.Config{Path: path, Name: "alice", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	account := old.Node.AccountKey()
	old.Close()
	if k, _ := sqlite.FileKind(path); k != sqlite.KindPlain {
		t.Fatalf("the old database is %v, want plaintext", k)
	}
	d, err := openDevice(t, device.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if d.Node.AccountKey() != account || d.AtRest != atrest.Unprotected {
		t.Errorf("after the upgrade: account %x (want %x), key file %v", d.Node.AccountKey(), account, d.AtRest)
	}
	d.Close()
	if k, _ := sqlite.FileKind(path); k != sqlite.KindEncrypted {
		t.Errorf("the database is %v after the upgrade, want encrypted", k)
	}
}

// TestReplacedDatabaseRefused: once a directory has its key, a plaintext
// database put in place of the encrypted one (an attacker's account, with
// the user's passphrase then sealing it) is refused, and so is a database
// that was emptied or removed (it would open as a new account).
func TestReplacedDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "berty.db")
	d, err := openDevice(t, device.Config{Path: path, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	other := filepath.Join(t.TempDir(), "other.db")
	m, err := openDevice(t, device.Config{Path: other, Name: "mallory", Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openDevice(t, device.Config{Path: path}); !errors.Is(err, sqlite.ErrNotMarked) {
		t.Errorf("a plaintext database in place of the encrypted one: %v, want ErrNotMarked", err)
	}
	for _, emptied := range []bool{true, false} {
		os.Remove(path)
		if emptied {
			os.WriteFile(path, nil, 0o600)
		}
		if _, err := openDevice(t, device.Config{Path: path}); err == nil || !strings.Contains(err.Error(), "missing or empty") {
			t.Errorf("an emptied (%v) or removed database: %v, want refused", emptied, err)
		}
	}
}

// TestNewAccountSurvivesACrash: a crash after the key file of a new account
// is written and before its database is made leaves the directory usable:
// the next start makes the account.
func TestNewAccountSurvivesACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	// What the first start leaves when it dies there: the mark of a new
	// database, the key file, no database.
	if err := os.WriteFile(path+".new", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := atrest.Unlock(path, nil); err != nil {
		t.Fatal(err)
	}
	d, err := openDevice(t, device.Config{Path: path, Name: "alice"})
	if err != nil {
		t.Fatalf("the start after the crash: %v", err)
	}
	if d.Node.Name() != "alice" {
		t.Errorf("account name %q", d.Node.Name())
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the new-database mark is still there: %v", err)
	}
}

// TestEncryptedDatabaseWithoutKeyFile: an encrypted database whose key file
// is gone is refused, saying so — a new key would never open it.
func TestEncryptedDatabaseWithoutKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	d, err := openDevice(t, device.Config{Path: path, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := os.Remove(atrest.KeyPath(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := device.OpenStore(device.Config{Path: path}); !errors.Is(err, atrest.ErrNoKeyFile) {
		t.Fatalf("%v, want ErrNoKeyFile", err)
	}
	if _, ok, _ := atrest.Status(path); ok {
		t.Error("the refused open made a key file")
	}
}
