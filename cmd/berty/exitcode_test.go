package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berty-go/berty/core/link"
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
	// A data directory that the refused daemons must leave as they found
	// it: not there.
	fresh := filepath.Join(t.TempDir(), "fresh")
	expired, err := link.NewDevice([32]byte{1}, [32]byte{2}, uint64(time.Now().Add(-time.Minute).Unix()), "laptop")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of the message
		not    string // what the message must not say, if set
		stdout string // what it prints, if set
	}{
		{name: "id", args: []string{"id", "--data", alice.dir}},
		{"send to no such conversation", []string{"send", "--data", alice.dir, "nosuchconv", "x"}, 4, "berty conversations", "", ""},
		{"send to a topic prefix too short", []string{"send", "--data", alice.dir, "ab", "x"}, 4, "give at least 4 hex digits of the topic", "", ""},
		{"contact add garbage", []string{"contact", "add", "--data", alice.dir, "garbage"}, 2, "not a Berty link", "", ""},
		{"contact accept of a bad key", []string{"contact", "accept", "--data", alice.dir, "zz"}, 2, "64 hex digits (as `berty contact list`", "", ""},
		{"contact accept of nobody's request", []string{"contact", "accept", "--data", alice.dir, hex.EncodeToString(random)}, 4, "no such contact request", "", ""},
		{"device revoke of this device", []string{"device", "revoke", "--data", alice.dir, id.Device}, 5, "", "", ""},
		{"device revoke of a bad key", []string{"device", "revoke", "--data", alice.dir, "zz"}, 2, "`berty device list`", "contact list", ""},
		{"device approve of an expired link", []string{"device", "approve", "--data", alice.dir, expired.URL()}, 2, "expired at", "", ""},
		{"device approve with no link on stdin", []string{"device", "approve", "--data", alice.dir}, 2, "no link on stdin", "", ""},
		{"no daemon", []string{"conversations", "--data", noDaemon}, 3, "berty daemon --data " + noDaemon, "", ""},
		{"no daemon, id", []string{"id", "--data", noDaemon}, 3, "no berty daemon", "", ""},
		{"wrong token", []string{"id", "--data", wrongToken}, 3, filepath.Join(wrongToken, daemon.TokenFile), "", ""},
		{"second daemon", []string{"daemon", "--data", alice.dir, "--p2p-listen", "/ip4/127.0.0.1/tcp/0"}, 3, fmt.Sprintf("pid %d", alice.cmd.Process.Pid), "", ""},
		{"missing argument", []string{"send", "--data", alice.dir, "alice"}, 2, "arg", "", ""},
		{"unknown flag", []string{"conversations", "--data", alice.dir, "--no-such-flag"}, 2, "no-such-flag", "", ""},
		{"unknown verb", []string{"frobnicate"}, 2, `unknown command "frobnicate"`, "", ""},
		{"unknown verb of a group of verbs", []string{"contact", "frobnicate", "--data", alice.dir}, 2, `unknown command "frobnicate"`, "", ""},
		{"tail --last negative", []string{"tail", "--data", alice.dir, "--last", "-1"}, 2, "--last", "", ""},
		{"bench of an unknown scenario", []string{"bench", "--scenario", "latncy"}, 2, "--scenario", "", ""},
		{"daemon on a public address", []string{"daemon", "--data", fresh, "--listen", "0.0.0.0:7781"}, 2, "--allow-remote", "", ""},
		{"daemon with a bad peer", []string{"daemon", "--data", fresh, "--peer", "garbage"}, 2, "--peer", "", ""},
		{"daemon with a bad bootstrap peer", []string{"daemon", "--data", fresh, "--dht", "--bootstrap", "/ip4/1.2.3.4/tcp/1"}, 2, "--bootstrap", "", ""},
		{"daemon with a bad p2p address", []string{"daemon", "--data", fresh, "--p2p-listen", "tcp:4001"}, 2, "--p2p-listen", "", ""},
		{"daemon with a bad API address", []string{"daemon", "--data", fresh, "--listen", "7781"}, 2, "--listen", "", ""},
		{"daemon with metrics on a public address", []string{"daemon", "--data", fresh, "--metrics", "0.0.0.0:9090"}, 2, "--metrics", "API", ""},
		{"daemon with a name too long", []string{"daemon", "--data", fresh, "--name", strings.Repeat("n", 65)}, 2, "--name", "", ""},
		{"device link with a bad peer", []string{"device", "link", "--data", fresh, "--peer", "garbage"}, 2, "--peer", "", ""},
		{"daemon with a blank name", []string{"daemon", "--data", fresh, "--name", "   "}, 2, "only spaces", "", ""},
		{"mini with a bad peer", []string{"mini", "--data", fresh, "--peer", "garbage"}, 2, "--peer", "", ""},
		// Empty lists print [] in JSON, not null.
		{name: "contact list --json", args: []string{"contact", "list", "--data", alice.dir, "--json"}, stdout: "[]\n"},
		{name: "conversations --json", args: []string{"conversations", "--data", alice.dir, "--json"}, stdout: "[]\n"},
		{name: "peers --json", args: []string{"peers", "--data", alice.dir, "--json"}, stdout: `"peers": []`},
		{name: "search --json", args: []string{"search", "--data", alice.dir, "--json", "nothing"}, stdout: "[]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := berty(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("berty %s: exit %d, want %d (stderr: %s)", strings.Join(tc.args, " "), r.code, tc.code, strings.TrimSpace(r.stderr))
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("berty %s: stderr %q does not contain %q", strings.Join(tc.args, " "), r.stderr, tc.stderr)
			}
			if tc.not != "" && strings.Contains(r.stderr, tc.not) {
				t.Errorf("berty %s: stderr %q mentions %q", strings.Join(tc.args, " "), r.stderr, tc.not)
			}
			if !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("berty %s printed %q, want %q", strings.Join(tc.args, " "), r.stdout, tc.stdout)
			}
		})
	}
	t.Run("device approve, then Ctrl-C", func(t *testing.T) { approveInterrupted(t, alice) })
	// The refused second daemon left the first one as it was.
	if got := alice.id(); got.Account != id.Account {
		t.Errorf("alice's account is %s after a refused second daemon, was %s", got.Account, id.Account)
	}
	// The refused daemons checked their flags before writing anything.
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("daemons refused for their flags left %s behind (%v)", fresh, err)
	}
}

// approveInterrupted: `berty device approve` says on stderr what it
// waits for and until when, and Ctrl-C ends the wait: a status that is not
// 0 and a message.
func approveInterrupted(t *testing.T, alice *proc) {
	expires := time.Now().Add(10 * time.Minute)
	l, err := link.NewDevice([32]byte{1}, [32]byte{2}, uint64(expires.Unix()), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	// A command that does not do as it should is killed after 30 s.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "device", "approve", "--data", alice.dir, l.URL())
	cmd.Env = env()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() {
		t.Fatalf("berty device approve printed nothing on stderr")
	}
	progress := sc.Text()
	for _, want := range []string{"looking for the new device \"laptop\"", "expires at " + expires.Format("15:04:05")} {
		if !strings.Contains(progress, want) {
			t.Errorf("berty device approve says %q, want it to say %q", progress, want)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Errorf("berty device approve after Ctrl-C: %v, want exit status %d", err, exitFailed)
	}
	if !strings.Contains(rest.String(), "cancelled") {
		t.Errorf("berty device approve after Ctrl-C says %q, want that it was cancelled", rest.String())
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
	// Shell completion offers the conversations' names for CONV.
	if r := berty(t, "__complete", "send", "--data", alice.dir, "no"); r.code != 0 || !strings.HasPrefix(r.stdout, "notes\t") {
		t.Errorf("completion of `berty send no`: exit %d, printed %q, want notes", r.code, r.stdout)
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

	// Restarted with another --name: that names new accounts only; the
	// daemon says so, and how to rename.
	alice.extra = []string{"--name", "alicia"}
	alice.start()
	if got := alice.id(); got.Account != id.Account || got.Name != "alice" {
		t.Fatalf("the account changed after a kill: %s named %q, was %s named alice", got.Account, got.Name, id.Account)
	}
	for i := range 5 {
		if body := fmt.Sprintf("note %d", i); !alice.has(alice.conversation("notes").Topic, "alice", body) {
			t.Errorf("%q, sent before the kill, is lost", body)
		}
	}
	alice.stop() // the warning is written once the API serves, before the daemon can stop
	b, err := os.ReadFile(alice.log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "berty name alicia --data " + alice.dir; !strings.Contains(string(b), want) || !strings.Contains(string(b), "--name only names a new account") {
		t.Errorf("restarted with --name alicia, the daemon did not say that --name names new accounts and to run %q:\n%s", want, lastLines(string(b), 10))
	}
}
