package main

// The end-to-end harness: the real `berty` binary, built once, runs as
// separate daemon processes on loopback; the tests drive them with the CLI,
// as a person would, and check what they did through package client.
// Protocol events are waited for on the daemons' event streams, never with
// sleeps.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/internal/wait"
)

// binDir holds the binary that the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "berty-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	bertyBin  string
	buildErr  error
)

// binary builds the berty command once per test run; with the race
// detector when the tests have it, so that a race in a daemon fails its
// exit status.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the berty binary")
	}
	buildOnce.Do(func() {
		bin := filepath.Join(binDir, "berty")
		args := []string{"build", "-o", bin}
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "-race" && s.Value == "true" {
					args = append(args, "-race")
				}
			}
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		bertyBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bertyBin
}

// env is the environment of every process the tests start. A binary built
// with -race sleeps 1 s at exit by default (so that other threads can still
// report); the tests run dozens of them.
func env() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// procAttr is set by proc_linux_test.go so that the daemons die with the
// test binary even when it cannot clean up (a -timeout panic).
var procAttr *syscall.SysProcAttr

// proc is one `berty daemon` process on its own data directory, with a Go
// client whose event stream signals w on every event.
type proc struct {
	t     *testing.T
	name  string
	dir   string   // --data
	peers []string // --peer
	extra []string // more flags for the next start
	// listen is --p2p-listen (nil: an ephemeral port on 127.0.0.1; empty:
	// no flag), wrap a command the daemon runs under (ip netns exec NS).
	listen, wrap []string
	log          string // its stdout and stderr, appended across restarts

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed

	c      *client.Client
	w      wait.Cond
	endSub func()
}

// startDaemon starts `berty daemon` for name on a new data directory and
// waits until it answers.
func startDaemon(t *testing.T, name string, peers ...string) *proc {
	t.Helper()
	p := newProc(t, name)
	p.peers = peers
	p.start()
	return p
}

// newProc is a daemon not started yet: set its fields, then start it.
func newProc(t *testing.T, name string) *proc {
	t.Helper()
	base := t.TempDir()
	p := &proc{t: t, name: name, dir: filepath.Join(base, name), log: filepath.Join(base, name+".log")}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s's daemon log:\n%s", name, lastLines(string(b), 40))
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// start runs the daemon process and waits for its API: the socket, then
// an answered call; then subscribes to its events.
func (p *proc) start() {
	t := p.t
	t.Helper()
	args := []string{"daemon", "--data", p.dir, "--name", p.name}
	listen := p.listen
	if listen == nil {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	for _, a := range listen {
		args = append(args, "--p2p-listen", a)
	}
	for _, a := range p.peers {
		args = append(args, "--peer", a)
	}
	if !slices.ContainsFunc(p.extra, func(a string) bool { return strings.HasPrefix(a, "--passphrase") }) {
		args = append(args, "--no-passphrase") // no terminal to be asked on
	}
	args = append(args, p.extra...)
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	args = append([]string{binary(t)}, args...)
	if len(p.wrap) > 0 {
		args = append(slices.Clone(p.wrap), args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr, p.cmd.SysProcAttr, p.cmd.Env = logf, logf, procAttr, env()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		p.err = cmd.Wait()
		close(exited)
	}(p.cmd, p.exited)

	// Polling the socket is for process startup only; everything after
	// it waits on events.
	sock := filepath.Join(p.dir, daemon.SocketFile)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s's daemon exited at start: %v", p.name, p.err)
		case <-tick.C:
		}
		// A daemon that was killed leaves its socket: wait for one that
		// accepts.
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's daemon has no socket after 30 s", p.name)
		}
	}
	if p.c, err = client.Dial(p.dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := p.c.Node.AccountInfo(ctx, &bv1.AccountInfoRequest{}); err != nil {
		t.Fatalf("%s's daemon does not answer: %v", p.name, err)
	}
	p.subscribe()
}

// subscribe signals p.w on every event of the daemon, and once more when
// the stream ends, until endSub.
func (p *proc) subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	// The call returns once the daemon sent the stream's headers, which it
	// must do at once, not at the first event.
	slow := time.AfterFunc(10*time.Second, cancel)
	stream, err := p.c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{})
	if !slow.Stop() {
		p.t.Fatalf("subscribing to %s's events took more than 10 s", p.name)
	}
	if err != nil {
		cancel()
		p.t.Fatalf("subscribe to %s's events: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for stream.Receive() {
			p.w.Signal()
		}
		p.w.Signal()
	}()
	p.endSub = func() {
		cancel()
		<-done
		stream.Close()
	}
}

// disconnect ends the test's stream and connections to the daemon.
func (p *proc) disconnect() {
	if p.endSub != nil {
		p.endSub()
		p.endSub = nil
	}
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
}

// stop sends SIGTERM and waits for the daemon to exit; it must exit 0.
func (p *proc) stop() {
	t := p.t
	t.Helper()
	p.disconnect()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s's daemon is still running 20 s after SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s's daemon exited with %v after SIGTERM, want status 0", p.name, p.err)
	}
	t.Logf("%s's daemon stopped in %v", p.name, time.Since(start).Round(time.Millisecond))
}

// kill is the cleanup: whatever state the daemon is in, it is gone after.
func (p *proc) kill() {
	p.disconnect()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// until waits for ok, re-checking it on each of the daemon's events.
func (p *proc) until(what string, ok func() bool) {
	t := p.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.w.Until(ctx, ok); err != nil {
		t.Fatalf("%s: timed out waiting for %s", p.name, what)
	}
}

// result is what a CLI call did.
type result struct {
	stdout, stderr string
	code           int
}

// berty runs the CLI with args and returns its output and exit status.
func berty(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &errb, env()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("berty %s: still running after 30 s", strings.Join(args, " "))
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// cli runs a verb on the daemon's data directory; it must succeed.
func (p *proc) cli(args ...string) string {
	t := p.t
	t.Helper()
	r := berty(t, append(args, "--data", p.dir)...)
	if r.code != 0 {
		t.Fatalf("berty %s (%s): exit %d: %s", strings.Join(args, " "), p.name, r.code, r.stderr)
	}
	return r.stdout
}

// cliJSON runs a verb with --json and decodes what it prints into v.
func (p *proc) cliJSON(v any, args ...string) {
	p.t.Helper()
	out := p.cli(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		p.t.Fatalf("berty %s --json printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// identity is `berty id --json`.
type identity struct {
	Name, Account, Device, Peer, Link, Compact string
	Listen                                     []string
}

func (p *proc) id() identity {
	var id identity
	p.cliJSON(&id, "id")
	if len(id.Listen) == 0 || id.Link == "" || len(id.Account) != 64 {
		p.t.Fatalf("berty id --json for %s: %+v", p.name, id)
	}
	return id
}

// conversation is the Go client's view of a conversation, by name.
func (p *proc) conversation(name string) *bv1.Conversation {
	t := p.t
	t.Helper()
	r, err := p.c.Messenger.Conversations(t.Context(), &bv1.ConversationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range r.Conversations {
		if cv.Name == name {
			return cv
		}
	}
	return nil
}

// history is a conversation's interactions, oldest first.
func (p *proc) history(topic []byte) []*bv1.Interaction {
	t := p.t
	t.Helper()
	h, err := p.c.Messenger.History(t.Context(), &bv1.HistoryRequest{Topic: topic, Limit: 500})
	if err != nil {
		t.Fatalf("%s's history: %v", p.name, err)
	}
	its := h.Interactions
	for i, j := 0, len(its)-1; i < j; i, j = i+1, j-1 {
		its[i], its[j] = its[j], its[i]
	}
	return its
}

// has reports whether the conversation holds a text of that body, from
// that author's name.
func (p *proc) has(topic []byte, from, body string) bool {
	for _, it := range p.history(topic) {
		if it.Name == from && it.Body == body {
			return true
		}
	}
	return false
}

// contactState is the state of the daemon's contact with an account (hex).
func (p *proc) contactState(account string) bv1.ContactState {
	t := p.t
	t.Helper()
	r, err := p.c.Node.ContactList(t.Context(), &bv1.ContactListRequest{})
	if err != nil {
		t.Fatalf("%s's contacts: %v", p.name, err)
	}
	for _, c := range r.Contacts {
		if fmt.Sprintf("%x", c.Account) == account {
			return c.State
		}
	}
	return bv1.ContactState_CONTACT_STATE_UNSPECIFIED
}
