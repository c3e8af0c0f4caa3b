package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/store/atrest"
)

// TestEncryptedAtRest is issue 13's "a stolen laptop gives nothing away",
// as a user runs it: alice sets a passphrase (from a file), bob sets none;
// they chat. Neither data directory holds a message text, a seed, a group
// secret or SQLite's plaintext header, while the daemons run and after they
// stop. A wrong passphrase is refused (exit 5) and changes nothing; a
// missing one says how to give it (exit 2); `berty passphrase` changes it
// without touching the database, and the history is still there.
func TestEncryptedAtRest(t *testing.T) {
	tmp := t.TempDir()
	passFile := func(name, pass string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass1, pass2, wrong := passFile("p1", "alice's first passphrase"), passFile("p2", "alice's second"), passFile("w", "not it")

	alice := newProc(t, "alice")
	alice.extra = []string{"--passphrase-file", pass1}
	alice.start()
	aliceID := alice.id()
	bob := startDaemon(t, "bob", aliceID.Listen[0])
	bob.cli("contact", "add", aliceID.Link)
	bobID := bob.id()
	alice.until("bob's request", func() bool { return alice.contactState(bobID.Account) == bv1.ContactState_CONTACT_STATE_INCOMING })
	alice.cli("contact", "accept", bobID.Account)
	bob.until("alice's acceptance", func() bool { return bob.conversation("alice") != nil })

	texts := []string{"the treasure is under the third oak", "and the key is in the blue teapot"}
	bob.cli("send", "alice", texts[0])
	topic := alice.conversation("bob").Topic
	alice.until("bob's message", func() bool { return alice.has(topic, "bob", texts[0]) })
	alice.cli("send", "bob", texts[1])
	bob.until("alice's answer", func() bool { return bob.has(topic, "alice", texts[1]) })

	secrets := [][]byte{[]byte(texts[0]), []byte(texts[1]), []byte("SQLite format 3\x00")}
	check := func(when string) {
		t.Helper()
		for _, p := range []*proc{alice, bob} {
			for file, s := range findAny(t, p.dir, secrets) {
				t.Errorf("%s, %s's %s holds %q in clear", when, p.name, file, s)
			}
		}
	}
	check("with the daemons running")
	alice.stop()
	bob.stop()
	check("after the daemons stopped")

	// The seeds and group secrets, read through the key: in no file.
	for _, p := range []struct {
		proc *proc
		pass string
	}{{alice, pass1}, {bob, ""}} {
		st, err := device.OpenStore(device.Config{Path: filepath.Join(p.proc.dir, daemon.DBFile), Passphrase: func(bool) ([]byte, error) {
			b, err := os.ReadFile(p.pass)
			return bytes.TrimSpace(b), err
		}})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := st.Account()
		if err != nil {
			t.Fatal(err)
		}
		groups, err := st.Groups()
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		keys := [][]byte{acc.AccountSeed[:], acc.DeviceSeed[:]}
		for _, g := range groups {
			keys = append(keys, g.Secret[:])
		}
		for file, s := range findAny(t, p.proc.dir, keys) {
			t.Errorf("%s's %s holds a key in clear (%x…)", p.proc.name, file, s[:4])
		}
	}
	if k, _, _ := atrest.Status(filepath.Join(bob.dir, daemon.DBFile)); k != atrest.Unprotected {
		t.Errorf("bob's key file: %v, want unprotected", k)
	}
	if b, _ := os.ReadFile(bob.log); !strings.Contains(string(b), "unprotected") {
		t.Error("bob's daemon did not warn that his key is unprotected")
	}

	before := hashDir(t, alice.dir)
	r := berty(t, "daemon", "--data", alice.dir, "--passphrase-file", wrong)
	if r.code != exitRefused || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("a wrong passphrase: exit %d, %q", r.code, r.stderr)
	}
	r = berty(t, "daemon", "--data", alice.dir)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--passphrase-file") {
		t.Errorf("no passphrase: exit %d, %q", r.code, r.stderr)
	}
	if after := hashDir(t, alice.dir); after != before {
		t.Error("refused starts changed the data directory")
	}

	r = berty(t, "passphrase", "--data", alice.dir, "--passphrase-file", wrong, "--new-passphrase-file", pass2)
	if r.code != exitRefused {
		t.Errorf("berty passphrase with a wrong current one: exit %d, %q", r.code, r.stderr)
	}
	dbBefore := hashFile(t, filepath.Join(alice.dir, daemon.DBFile))
	r = berty(t, "passphrase", "--data", alice.dir, "--passphrase-file", pass1, "--new-passphrase-file", pass2)
	if r.code != 0 || !strings.Contains(r.stdout, "passphrase is set") {
		t.Fatalf("berty passphrase: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if hashFile(t, filepath.Join(alice.dir, daemon.DBFile)) != dbBefore {
		t.Error("changing the passphrase rewrote the database")
	}
	if r := berty(t, "daemon", "--data", alice.dir, "--passphrase-file", pass1); r.code != exitRefused {
		t.Errorf("the old passphrase after a change: exit %d, %q", r.code, r.stderr)
	}
	alice.extra = []string{"--passphrase-file", pass2}
	alice.start()
	if !alice.has(topic, "bob", texts[0]) || !alice.has(topic, "alice", texts[1]) {
		t.Error("alice's history is gone after the passphrase change")
	}
	// berty check reads every page of bob's stopped database: fine, then
	// one byte changed in the middle of the file is found.
	if r := berty(t, "check", "--data", bob.dir); r.code != 0 || !strings.Contains(r.stdout, "ok: every page") {
		t.Errorf("berty check: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	bdb := filepath.Join(bob.dir, daemon.DBFile)
	b, err := os.ReadFile(bdb)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/4096/2*4096+777] ^= 0x20
	if err := os.WriteFile(bdb, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := berty(t, "check", "--data", bob.dir); r.code != exitFailed || !strings.Contains(r.stderr, "modified outside berty") {
		t.Errorf("berty check on a modified page: exit %d, %q", r.code, r.stderr)
	}
	// While the daemon runs, the passphrase cannot change under it.
	if r := berty(t, "passphrase", "--data", alice.dir, "--remove", "--passphrase-file", pass2); r.code != exitNoDaemon {
		t.Errorf("berty passphrase on a running daemon's directory: exit %d, %q", r.code, r.stderr)
	}
}

// findAny returns, for each file under dir holding one of needles, the
// first needle found.
func findAny(t *testing.T, dir string, needles [][]byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				out[filepath.Base(p)] = n
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hashFile(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// hashDir hashes the names and contents of the files in dir (the lock
// file's pid line aside).
func hashDir(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Type()&os.ModeSocket != 0 || e.Name() == daemon.LockFile {
			continue
		}
		sum := hashFile(t, filepath.Join(dir, e.Name()))
		h.Write([]byte(e.Name()))
		h.Write(sum[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// TestPassphraseSources: how a passphrase reaches berty, and what it
// refuses. A new account with no terminal and no passphrase needs
// --no-passphrase, said clearly, and nothing is written; --passphrase-fd
// takes only a descriptor the caller handed over (not one berty or the Go
// runtime opened); a passphrase given to a directory whose key file has
// none is refused (the pair may have been swapped); Argon2id costs are
// bounded.
func TestPassphraseSources(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	r := berty(t, "daemon", "--data", dir, "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--no-passphrase") {
		t.Errorf("a new account without a passphrase source: exit %d, %q", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != daemon.LockFile {
		t.Errorf("the refused start left files: %v", ents)
	}
	if r := berty(t, "daemon", "--data", dir, "--passphrase-fd", "3"); r.code != exitUsage || !strings.Contains(r.stderr, "--passphrase-fd 3") {
		t.Errorf("--passphrase-fd 3 with no descriptor 3 handed over: exit %d, %q", r.code, r.stderr)
	}

	// bob's directory has no passphrase; a passphrase given to it is refused.
	bob := startDaemon(t, "bob")
	bob.stop()
	pf := filepath.Join(t.TempDir(), "p")
	os.WriteFile(pf, []byte("bob's passphrase\n"), 0o600)
	if r := berty(t, "daemon", "--data", bob.dir, "--passphrase-file", pf); r.code != exitRefused || !strings.Contains(r.stderr, "key file has none") {
		t.Errorf("a passphrase for an unprotected key file: exit %d, %q", r.code, r.stderr)
	}
	if r := berty(t, "passphrase", "--data", bob.dir, "--new-passphrase-file", pf, "--argon-memory", "4194305"); r.code != exitUsage {
		t.Errorf("--argon-memory 4194305: exit %d, %q", r.code, r.stderr)
	}
	if r := berty(t, "passphrase", "--data", bob.dir, "--new-passphrase-file", pf); r.code != 0 {
		t.Fatalf("berty passphrase: exit %d, %q", r.code, r.stderr)
	}
	// The current passphrase on an inherited descriptor (a pipe), the new
	// one from a file.
	pf2 := filepath.Join(t.TempDir(), "p2")
	os.WriteFile(pf2, []byte("bob's second\n"), 0o600)
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	wr.WriteString("bob's passphrase\n")
	wr.Close()
	cmd := exec.Command(binary(t), "passphrase", "--data", bob.dir, "--passphrase-fd", "3", "--new-passphrase-file", pf2)
	cmd.ExtraFiles, cmd.Env = []*os.File{rd}, env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("berty passphrase --passphrase-fd 3 3<pipe: %v: %s", err, out)
	}
	rd.Close()
	bob.extra = []string{"--passphrase-file", pf2}
	bob.start()
}
