package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berty-go/berty/daemon"
)

// TestExitCodes: the CLI's exit statuses are the documented ones (`berty
// --help`: 0 done, 1 failed, 2 bad arguments or input, 3 no daemon, a wrong
// token or one already running, 4 not found, 5 not allowed), each with a
// message on stderr that says what to do.
func TestExitCodes(t *testing.T) {
	alice := startDaemon(t, "alice")
	id := alice.id()
	noDaemon := filepath.Join(t.TempDir(), "nobody")

	// A data directory whose token is not the daemon's: its socket, a
	// token of another start.
	wrongToken := t.TempDir()
	if err := os.Symlink(filepath.Join(alice.dir, daemon.SocketFile), filepath.Join(wrongToken, daemon.SocketFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wrongToken, daemon.TokenFile), []byte(strings.Repeat("0", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 32)
	rand.Read(random)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of the message
	}{
		{"id", []string{"id", "--data", alice.dir}, 0, ""},
		{"send to no such conversation", []string{"send", "--data", alice.dir, "nosuchconv", "x"}, 4, "berty conversations"},
		{"contact add garbage", []string{"contact", "add", "--data", alice.dir, "garbage"}, 2, "not a Berty link"},
		{"contact accept of a bad key", []string{"contact", "accept", "--data", alice.dir, "zz"}, 2, "64 hex digits"},
		{"contact accept of nobody's request", []string{"contact", "accept", "--data", alice.dir, hex.EncodeToString(random)}, 4, "no such contact request"},
		{"device revoke of this device", []string{"device", "revoke", "--data", alice.dir, id.Device}, 5, ""},
		{"no daemon", []string{"conversations", "--data", noDaemon}, 3, "berty daemon --data " + noDaemon},
		{"no daemon, id", []string{"id", "--data", noDaemon}, 3, "no berty daemon"},
		{"wrong token", []string{"id", "--data", wrongToken}, 3, "token"},
		{"second daemon", []string{"daemon", "--data", alice.dir, "--p2p-listen", "/ip4/127.0.0.1/tcp/0"}, 3, fmt.Sprintf("pid %d", alice.cmd.Process.Pid)},
		{"missing argument", []string{"send", "--data", alice.dir, "alice"}, 2, "arg"},
		{"unknown flag", []string{"conversations", "--data", alice.dir, "--no-such-flag"}, 2, "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := berty(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("berty %s: exit %d, want %d (stderr: %s)", strings.Join(tc.args, " "), r.code, tc.code, strings.TrimSpace(r.stderr))
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("berty %s: stderr %q does not contain %q", strings.Join(tc.args, " "), r.stderr, tc.stderr)
			}
		})
	}
	// The refused second daemon left the first one as it was.
	if got := alice.id(); got.Account != id.Account {
		t.Errorf("alice's account is %s after a refused second daemon, was %s", got.Account, id.Account)
	}
}

// TestConversationsJSONTopic: a script can take a topic from `berty
// conversations --json` and give it to the other verbs, as it can one from
// `berty group create --json` or `berty contact list --json` (hex).
func TestConversationsJSONTopic(t *testing.T) {
	alice := startDaemon(t, "alice")
	var created struct{ Topic string }
	alice.cliJSON(&created, "group", "create", "notes")
	var convs []map[string]any
	alice.cliJSON(&convs, "conversations")
	if len(convs) != 1 {
		t.Fatalf("berty conversations --json: %v, want the one group", convs)
	}
	topic, _ := convs[0]["topic"].(string)
	if topic != created.Topic {
		t.Errorf("berty conversations --json prints the topic as %q; berty group create --json printed %q", topic, created.Topic)
	}
	if r := berty(t, "send", "--data", alice.dir, topic, "hello"); r.code != 0 {
		t.Errorf("berty send with the topic from berty conversations --json: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	}
}

// TestKilledDaemon: after a daemon is killed (SIGKILL: no cleanup, its
// socket left behind), the CLI says there is no daemon and how to start
// one, exit 3; a new daemon starts on the same data directory, with the
// same account and every message whose send returned.
func TestKilledDaemon(t *testing.T) {
	alice := startDaemon(t, "alice")
	id := alice.id()
	var created struct{ Topic string }
	alice.cliJSON(&created, "group", "create", "notes")
	for i := range 5 {
		alice.cli("send", "notes", fmt.Sprintf("note %d", i))
	}
	alice.disconnect()
	if err := alice.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-alice.exited

	r := berty(t, "id", "--data", alice.dir)
	if r.code != 3 {
		t.Errorf("berty id after the daemon was killed: exit %d, want 3 (%s)", r.code, strings.TrimSpace(r.stderr))
	}
	if want := "berty daemon --data " + alice.dir; !strings.Contains(r.stderr, want) {
		t.Errorf("berty id after the daemon was killed says %q, not how to start one (%q)", strings.TrimSpace(r.stderr), want)
	}

	alice.start()
	if got := alice.id(); got.Account != id.Account {
		t.Fatalf("the account changed after a kill: %s, was %s", got.Account, id.Account)
	}
	for i := range 5 {
		if body := fmt.Sprintf("note %d", i); !alice.has(alice.conversation("notes").Topic, "alice", body) {
			t.Errorf("%q, sent before the kill, is lost", body)
		}
	}
}
