package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/storetest"
)

var testKey = &[32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}

func openKey(t testing.TB, path string, key *[32]byte) *Store {
	t.Helper()
	s, err := OpenWith(path, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceEncrypted(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T) store.Store { return openKey(t, filepath.Join(t.TempDir(), "berty.db"), testKey) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*Store).Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return openKey(t, path, testKey)
		},
	})
}

// secretText and the account seeds are what a thief of the files looks for.
const secretText = "the treasure is under the third oak"

var seed = [32]byte{0xA5, 0x5A, 0xC3, 0x3C, 0x99, 0x66, 0xF0, 0x0F, 0xA5, 0x5A, 0xC3, 0x3C, 0x99, 0x66, 0xF0, 0x0F,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x01}

// fill writes an account and n messages holding secretText.
func fill(t testing.TB, s *Store, from, n int) {
	t.Helper()
	if err := s.SetAccount(&store.Account{AccountSeed: seed, DeviceSeed: seed, Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{Groups: []store.Group{{Topic: [32]byte{1}, Kind: 3, Secret: seed, Snapshot: []byte("snapshot")}}}
	for i := from; i < from+n; i++ {
		seq := uint64(i + 1)
		b.Entries = append(b.Entries, store.Entry{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, ID: feed.ID{byte(seq), byte(seq >> 8)}, Lamport: seq, Raw: []byte(secretText)})
		b.Messages = append(b.Messages, store.Message{Topic: [32]byte{1}, Device: keys.Public{2}, Seq: seq, Lamport: seq, ID: feed.ID{byte(seq), byte(seq >> 8)}, Body: []byte(secretText)})
	}
	if err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
}

// leaks reports the files under dir that hold the text or the seed in clear.
func leaks(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secretText)) || bytes.Contains(b, seed[:16]) || bytes.Contains(b, plainHeader) {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	return out
}

// TestEncryptedFilesHoldNoPlaintext: with the node running (write-ahead log
// full) and after it closed, no file holds a message text, a seed or even
// SQLite's header. The plaintext store leaks them: the check can fail.
func TestEncryptedFilesHoldNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	s := openKey(t, filepath.Join(dir, "berty.db"), testKey)
	fill(t, s, 0, 200)
	if l := leaks(t, dir); len(l) > 0 {
		t.Fatalf("open encrypted store: plaintext in %v", l)
	}
	s.Close()
	if l := leaks(t, dir); len(l) > 0 {
		t.Fatalf("closed encrypted store: plaintext in %v", l)
	}

	plain := t.TempDir()
	p, err := Open(filepath.Join(plain, "berty.db"))
	if err != nil {
		t.Fatal(err)
	}
	fill(t, p, 0, 200)
	p.Close()
	if l := leaks(t, plain); len(l) == 0 {
		t.Fatal("the plaintext store shows no plaintext: the check proves nothing")
	}
}

func TestWrongKeyAndNoKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	s := openKey(t, path, testKey)
	fill(t, s, 0, 10)
	s.Close()
	if s, err := OpenWith(path, Options{Key: &[32]byte{9}}); !errors.Is(err, ErrWrongKey) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("wrong key: %v, want ErrWrongKey", err)
	}
	if _, err := Open(path); !errors.Is(err, ErrEncrypted) {
		t.Fatalf("no key: %v, want ErrEncrypted", err)
	}
}

// TestTamperedPageDetected flips one byte of one page of the closed
// database: reading it must fail with ErrTampered, never return a wrong
// value. Every page is tried.
func TestTamperedPageDetected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "berty.db")
	s := openKey(t, path, testKey)
	fill(t, s, 0, 300)
	s.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(orig) / 4096
	if pages < 3 {
		t.Fatalf("only %d pages", pages)
	}
	for pg := range pages {
		bad := bytes.Clone(orig)
		bad[pg*4096+1234] ^= 0x01
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		err := readAll(path)
		if err == nil {
			t.Fatalf("page %d modified: the database read without an error", pg+1)
		}
		if pg > 0 && !errors.Is(err, ErrTampered) {
			// Page 1 holds the header: a change there fails as a wrong key.
			t.Fatalf("page %d modified: %v, want ErrTampered", pg+1, err)
		}
	}
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readAll(path); err != nil {
		t.Fatalf("the restored file: %v", err)
	}
}

// readAll opens the store and reads every table through it.
func readAll(path string) error {
	s, err := OpenWith(path, Options{Key: testKey})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Account(); err != nil {
		return err
	}
	if _, err := s.Groups(); err != nil {
		return err
	}
	for _, topic := range [][32]byte{{1}, {7}} { // 7: TestTruncatedDatabaseDetected's long message
		if _, err := s.Messages(topic, store.Cursor{}, 1000); err != nil {
			return err
		}
	}
	if _, err := s.EntriesAfter([32]byte{1}, keys.Public{2}, 0, 1000); err != nil {
		return err
	}
	return s.Check()
}

// TestEncryptPlaintextInPlace converts a plaintext database with a write-
// ahead log still beside it, and crashes the conversion at each step: the
// next open finishes it, and nothing is lost.
func TestEncryptPlaintextInPlace(t *testing.T) {
	for _, crashAt := range []string{"", "checkpointed", "copied", "synced", "renamed"} {
		t.Run("crash at "+crashAt, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "berty.db")
			p, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, p, 0, 100)
			p.Close()
			// A second session leaves its commits in the log only
			// (closing would fold them into the file): copy the files
			// while it is open, as a crash would leave them.
			p, err = Open(path)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, p, 100, 50)
			snapshot(t, dir, dir+"-crashed")
			p.Close()
			dir, path = dir+"-crashed", filepath.Join(dir+"-crashed", "berty.db")
			if _, err := os.Stat(path + "-wal"); err != nil {
				t.Fatalf("no write-ahead log to convert: %v", err)
			}
			if _, err := OpenWith(path, Options{Key: testKey}); !errors.Is(err, ErrNotMarked) {
				t.Fatalf("a plaintext database not marked for encryption: %v, want ErrNotMarked", err)
			}
			if err := MarkForEncryption(path); err != nil {
				t.Fatal(err)
			}

			if crashAt != "" {
				crash := errors.New("crash")
				err := encryptInPlace(path, testKey, func(s string) error {
					if s == crashAt {
						return crash
					}
					return nil
				})
				if !errors.Is(err, crash) {
					t.Fatalf("conversion: %v", err)
				}
			}
			s := openKey(t, path, testKey)
			msgs, err := s.Messages([32]byte{1}, store.Cursor{}, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 150 {
				t.Fatalf("%d messages after the conversion, want 150", len(msgs))
			}
			s.Close()
			if l := leaks(t, dir); len(l) > 0 {
				t.Fatalf("plaintext left in %v", l)
			}
			if err := readAll(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// snapshot copies the files of from into to, as a crash (or a thief) finds
// them at that moment.
func snapshot(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	restore(t, to, snapshotBytes(t, from))
}

// TestMain lets TestEncryptKilled run the conversion in a child process.
func TestMain(m *testing.M) {
	if path := os.Getenv("BERTY_TEST_ENCRYPT"); path != "" {
		s, err := OpenWith(path, Options{Key: testKey})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestEncryptKilled converts a plaintext database of 20 000 messages in a
// child process killed (SIGKILL) at times spread over the conversion, again
// and again on the same files: whatever the moment, the next open finds
// every message, and the file passes its integrity check.
func TestEncryptKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "berty.db")
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		fill(t, p, i*1000, 1000)
	}
	p.Close()
	if err := MarkForEncryption(path); err != nil {
		t.Fatal(err)
	}
	orig := snapshotBytes(t, dir)

	// One full conversion, to time it.
	run := func(kill time.Duration) (done bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BERTY_TEST_ENCRYPT="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			timer := time.AfterFunc(kill, func() { cmd.Process.Kill() })
			defer timer.Stop()
		}
		err := cmd.Wait()
		if err != nil && !strings.Contains(err.Error(), "killed") {
			t.Fatalf("conversion: %v: %s", err, stderr.String())
		}
		return err == nil
	}
	start := time.Now()
	run(0)
	full := time.Since(start)
	t.Logf("a conversion of 20 000 messages, process start included: %v", full)
	kills := 0
	for i := range 8 {
		restore(t, dir, orig)
		// Kill times spread from the start to past the end: some kills
		// land before the conversion, some in each step, some after.
		at := full * time.Duration(i+1) / 6
		for !run(at) {
			kills++
			at = at * 3 / 2 // the next try on the half-converted files goes further
		}
		s := openKey(t, path, testKey)
		n, err := s.CountMessages([32]byte{1})
		if err != nil || n != 20000 {
			t.Fatalf("kill at %v: %d messages (%v), want 20000", at, n, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("kill at %v: %v", at, err)
		}
		s.Close()
		if l := leaks(t, dir); len(l) > 0 {
			t.Fatalf("kill at %v: plaintext left in %v", at, l)
		}
	}
	if kills < 4 {
		t.Errorf("only %d conversions were killed: the kill times miss the conversion", kills)
	}
	t.Logf("%d conversions killed", kills)
}

func snapshotBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func restore(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTruncatedDatabaseDetected cuts the end off an encrypted database: one
// byte (a block read short), one whole page, and whole pages while a log
// left by a crash still counts them. Each must fail as tampered, never read
// the missing end as zeros (a zero page has a valid checksum). The last
// message is longer than a page, so its end lies in the last pages.
func TestTruncatedDatabaseDetected(t *testing.T) {
	// Its local part is the least SQLite keeps in the leaf, so the row
	// fits the leaf and its overflow chain is the last pages allocated.
	long := bytes.Repeat([]byte("Z"), 488+2*4084)
	for _, tc := range []struct {
		name string
		cut  int64
		wal  bool
	}{{"one byte", 1, false}, {"one page", 4096, false}, {"two pages, log kept", 8192, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "berty.db")
			s := openKey(t, path, testKey)
			fill(t, s, 0, 3)
			b := &store.Batch{Messages: []store.Message{{Topic: [32]byte{7}, Device: keys.Public{2}, Seq: 1000, Lamport: 1000, ID: feed.ID{9, 9}, Body: long}}}
			if err := s.Commit(b); err != nil {
				t.Fatal(err)
			}
			if tc.wal {
				// Fold the log into the file, then write more: the file
				// holds the long message, the log the later commits, as a
				// crash leaves them.
				if err := s.View(func(db *sql.DB) error { _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); return err }); err != nil {
					t.Fatal(err)
				}
				fill(t, s, 3, 20)
				snapshot(t, dir, dir+"-crashed")
				path = filepath.Join(dir+"-crashed", "berty.db")
			}
			s.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()-tc.cut); err != nil {
				t.Fatal(err)
			}
			err = readAll(path)
			if err == nil {
				s := openKey(t, path, testKey)
				msgs, _ := s.Messages([32]byte{7}, store.Cursor{}, 10)
				t.Fatalf("the cut database reads without an error (%d long messages, intact: %v)", len(msgs), len(msgs) == 1 && bytes.Equal(msgs[0].Body, long))
			}
			if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrWrongKey) {
				t.Fatalf("%v, want ErrTampered", err)
			}
		})
	}
}

// TestChecksumsRequired: a database encrypted under the right key but
// without page checksums (a conversion's copy taken before its checksums
// were on, put in the database's place) is refused: its blocks would not be
// authenticated.
func TestChecksumsRequired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	c, err := sqlite3.Open("file:" + path + "?vfs=" + vfsEncrypted)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA hexkey = '` + hex.EncodeToString(testKey[:]) + `'`, `CREATE TABLE x (y)`} {
		if err := c.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if _, err := OpenWith(path, Options{Key: testKey}); !errors.Is(err, ErrTampered) {
		t.Fatalf("an encrypted database without checksums: %v, want ErrTampered", err)
	}
}

// TestWrongKeyLeavesTheLog: after a crash left a write-ahead log, an open
// with a wrong key (another directory's key file) fails before SQLite
// reads the log, which it would otherwise reset as garbage: the right key
// then still finds the last commits.
func TestWrongKeyLeavesTheLog(t *testing.T) {
	dir, path := crashedWithLog(t, 10, 10)
	before := snapshotBytes(t, dir)
	if _, err := OpenWith(path, Options{Key: &[32]byte{0xEE}}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a wrong key: %v, want ErrWrongKey", err)
	}
	after := snapshotBytes(t, dir)
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("the open with a wrong key changed %s", name)
		}
	}
	s := openKey(t, path, testKey)
	if n, err := s.CountMessages([32]byte{1}); err != nil || n != 20 {
		t.Errorf("%d messages after the wrong key (%v), want 20", n, err)
	}
}

// TestKeyClearedAfterOpen: the caller clears its copy of the key once the
// store is open (device.openStore does); a connection the pool opens
// later still has the key.
func TestKeyClearedAfterOpen(t *testing.T) {
	key := *testKey
	s := openKey(t, filepath.Join(t.TempDir(), "berty.db"), &key)
	fill(t, s, 0, 5)
	clear(key[:])
	s.db.SetMaxIdleConns(0) // the pool drops its connection after each use
	for range 2 {
		if _, err := s.Account(); err != nil {
			t.Fatalf("a new connection after the key was cleared: %v", err)
		}
	}
}

// TestLogBlockTransplantDetected: frame 339 of the log holds its page image
// exactly on block 341 (56 + 339·4120 = 341·4096), which Adiantum encrypts
// with the same key and tweak as block 341 of the database. Copied there by
// someone who can write the files, it must not read as a page: the log's
// blocks are masked (vfs.go), so it decrypts to noise and fails its check.
// (A page image in the log also carries a stale checksum — the checksum is
// computed when a page is written to the database — so this holds without
// the mask too; TestLogBlocksMasked checks the mask itself.)
func TestLogBlockTransplantDetected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "berty.db")
	s := openKey(t, path, testKey)
	for i := range 20 {
		fill(t, s, i*1000, 1000)
	}
	s.Close()
	s = openKey(t, path, testKey)
	for i := range 40 {
		fill(t, s, 20000+i*100, 100)
	}
	snapshot(t, dir, dir+"-crashed")
	s.Close()
	path = filepath.Join(dir+"-crashed", "berty.db")
	wal, _ := os.ReadFile(path + "-wal")
	db, _ := os.ReadFile(path)
	const blk = 341
	if len(wal) < (blk+1)*4096 || len(db) < (blk+1)*4096 {
		t.Fatalf("a log of %d blocks and a database of %d: too small to test", len(wal)/4096, len(db)/4096)
	}
	copy(db[blk*4096:(blk+1)*4096], wal[blk*4096:(blk+1)*4096])
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-wal") // dropping the log is a rollback (§8.1); the page must still fail
	if err := readAll(path); !errors.Is(err, ErrTampered) {
		t.Fatalf("a log block moved into the database: %v, want ErrTampered", err)
	}
}

// TestFailedOpenChangesNothing: after a crash left a log, an open that
// fails on a modified page leaves every file as it was (closing the
// connection does not checkpoint): restoring the page then finds every
// commit.
func TestFailedOpenChangesNothing(t *testing.T) {
	crashed, path := crashedWithLog(t, 100, 10)
	orig := snapshotBytes(t, crashed)
	failed := 0
	for pg := range len(orig["berty.db"]) / 4096 {
		restore(t, crashed, orig)
		bad := bytes.Clone(orig["berty.db"])
		bad[pg*4096+99] ^= 1
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := OpenWith(path, Options{Key: testKey})
		if err == nil {
			st.Close()
			continue
		}
		failed++
		after := snapshotBytes(t, crashed)
		after["berty.db"] = orig["berty.db"] // the page we changed
		for name, b := range orig {
			if !bytes.Equal(after[name], b) {
				t.Errorf("page %d modified, open failed (%v): %s changed", pg+1, err, name)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no modified page made the open fail: the test proves nothing")
	}
}

// crashedWithLog makes an encrypted database of first messages, then
// writes more in a second session and copies the files while it is open,
// as a crash leaves them: the later commits only in the log. It returns the
// copy's directory and database path.
func crashedWithLog(t *testing.T, first, more int) (dir, path string) {
	t.Helper()
	orig := t.TempDir()
	path = filepath.Join(orig, "berty.db")
	s := openKey(t, path, testKey)
	fill(t, s, 0, first)
	s.Close()
	s = openKey(t, path, testKey)
	fill(t, s, first, more)
	snapshot(t, orig, orig+"-crashed")
	s.Close()
	if _, err := os.Stat(filepath.Join(orig+"-crashed", "berty.db-wal")); err != nil {
		t.Fatalf("no log left: %v", err)
	}
	return orig + "-crashed", filepath.Join(orig+"-crashed", "berty.db")
}
