package mini

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxDeadline bounds each wait for a screen to show something: a contact
// request crosses two libp2p hosts on loopback, which takes a second or two.
const tmuxDeadline = 30 * time.Second

// tmuxSession is one `berty mini` in a session of a private tmux server.
type tmuxSession struct {
	t    *testing.T
	tmux func(args ...string) (string, error)
	name string
	dir  string
}

func (s *tmuxSession) stderrFile() string { return s.dir + ".stderr" }

// screen is what the session's pane shows now.
func (s *tmuxSession) screen() string {
	out, err := s.tmux("capture-pane", "-p", "-t", s.name)
	if err != nil {
		s.t.Fatalf("capture %s: %v: %s", s.name, err, out)
	}
	return out
}

// waitFor polls the screen until it matches (the screen of another process
// has no event to wait on) and returns it.
func (s *tmuxSession) waitFor(what string, match func(screen string) bool, others ...*tmuxSession) string {
	s.t.Helper()
	deadline := time.Now().Add(tmuxDeadline)
	for {
		sc := s.screen()
		if match(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s's screen never showed %s in %v:\n%s", s.name, what, tmuxDeadline, sc)
			for _, o := range others {
				msg += fmt.Sprintf("\n%s's screen:\n%s", o.name, o.screen())
			}
			for _, o := range append([]*tmuxSession{s}, others...) {
				log, _ := os.ReadFile(filepath.Join(o.dir, LogFile))
				msg += fmt.Sprintf("\n%s's %s:\n%s", o.name, LogFile, log)
			}
			s.t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *tmuxSession) waitText(text string, others ...*tmuxSession) string {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%q", text), func(sc string) bool { return strings.Contains(sc, text) }, others...)
}

// typeLine types a line into the client and presses enter.
func (s *tmuxSession) typeLine(line string) {
	s.t.Helper()
	if out, err := s.tmux("send-keys", "-t", s.name, "-l", line); err != nil {
		s.t.Fatalf("send-keys: %v: %s", err, out)
	}
	if out, err := s.tmux("send-keys", "-t", s.name, "Enter"); err != nil {
		s.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

var contactLink = regexp.MustCompile(`https://berty\.tech/id#[A-Z0-9]+`)

// TestTmuxTwoMinis runs two real `berty mini` binaries, each with its own
// node, in a private tmux server, and goes through what two people do:
// alice shares her link, bob adds it, alice accepts, bob says hello, alice
// answers, bob edits his message and alice finds it by search. Then both terminals shrink to 80x24, and both quit: one with
// ctrl+c, one on SIGTERM.
func TestTmuxTwoMinis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two nodes")
	}
	tmuxBin, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "berty")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/berty").CombinedOutput(); err != nil {
		t.Fatalf("build berty: %v\n%s", err, out)
	}
	// A private server (-L) with its own configuration: the test never
	// touches the user's tmux. remain-on-exit keeps a pane after its
	// program ends, to read its exit status.
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g escape-time 0\nset -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("berty-mini-test-%d", os.Getpid())
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command(tmuxBin, append([]string{"-u", "-L", server, "-f", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
	start := func(name string, flags ...string) *tmuxSession {
		s := &tmuxSession{t: t, tmux: tmux, name: name, dir: filepath.Join(dir, name)}
		cmd := append([]string{bin, "mini", "--data", s.dir, "--name", name, "--mdns=false"}, flags...)
		// What it says on stderr once it has left the terminal.
		shell := strings.Join(cmd, " ") + " 2>" + s.stderrFile()
		// Wide enough for a contact link on one line.
		if out, err := tmux("new-session", "-d", "-s", name, "-x", "300", "-y", "40", shell); err != nil {
			t.Fatalf("start %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { tmux("kill-session", "-t", name) })
		// A new account: no passphrase (TestTwoMinisFindEachOtherByMDNS
		// sets one).
		s.waitText("Choose a passphrase")
		s.typeLine("")
		return s
	}
	t.Cleanup(func() { tmux("kill-server") })

	alice := start("alice")
	alice.waitText("alice · 0 peers · embedded node")
	// The embedded node serves the API on DATA/daemon.sock: the CLI works
	// meanwhile, and tells bob's node where alice's is.
	out, err := exec.Command(bin, "id", "--json", "--data", alice.dir).Output()
	if err != nil {
		t.Fatalf("berty id: %v", err)
	}
	var id struct{ Listen []string }
	if err := json.Unmarshal(out, &id); err != nil || len(id.Listen) == 0 {
		t.Fatalf("berty id --json: %v: %s", err, out)
	}
	bob := start("bob", "--peer", id.Listen[0])
	bob.waitText("bob · ", alice)

	alice.typeLine("/contact share")
	link := contactLink.FindString(alice.waitFor("a contact link", contactLink.MatchString))
	bob.typeLine("/contact add " + link)
	alice.waitText("contact request from bob", bob)
	alice.typeLine("/accept")
	bob.waitText("alice is now a contact", alice)
	bob.waitText("alice · contact", alice) // the conversation, selected
	bob.typeLine("hello from bob")
	alice.waitText("hello from bob", bob)
	alice.typeLine("hi bob")
	bob.waitText("alice hi bob", alice)
	// bob fixes his message; alice sees the edit and finds it by search.
	bob.typeLine("/edit hello from bob, edited")
	alice.waitText("hello from bob, edited (edited)", bob)
	alice.typeLine("/search edited")
	alice.waitText("1 message matches \"edited\"", bob)

	// 80x24, as a person's terminal may be.
	for _, s := range []*tmuxSession{alice, bob} {
		if out, err := tmux("resize-window", "-t", s.name, "-x", "80", "-y", "24"); err != nil {
			t.Fatalf("resize: %v: %s", err, out)
		}
	}
	for _, s := range []*tmuxSession{alice, bob} {
		sc := s.waitFor("the 80x24 layout", func(sc string) bool {
			lines := strings.Split(strings.TrimRight(sc, "\n"), "\n")
			return len(lines) == 24 && strings.HasPrefix(lines[20], strings.Repeat("─", 20)) && strings.Contains(sc, "hello from bob")
		})
		t.Logf("%s's screen at 80x24:\n%s", s.name, sc)
	}

	// alice quits with ctrl+c, bob's is stopped by SIGTERM. Each process
	// must be gone, and its node must have removed its socket (a clean
	// shutdown). The process is watched directly: tmux's own record of a
	// pane's exit status arrives a moment after the pane is marked dead.
	pids := map[*tmuxSession]int{}
	for _, s := range []*tmuxSession{alice, bob} {
		out, err := exec.Command("pgrep", "-f", "^"+bin+" mini --data "+s.dir+" ").Output()
		fields := strings.Fields(string(out))
		if err != nil || len(fields) != 1 {
			t.Fatalf("%s's mini process: %q, %v", s.name, out, err)
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatal(err)
		}
		pids[s] = pid
	}
	if out, err := tmux("send-keys", "-t", alice.name, "C-c"); err != nil {
		t.Fatalf("send-keys: %v: %s", err, out)
	}
	if err := syscall.Kill(pids[bob], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*tmuxSession{alice, bob} {
		deadline := time.Now().Add(tmuxDeadline)
		for syscall.Kill(pids[s], 0) == nil {
			if time.Now().After(deadline) {
				// The stacks of every goroutine, to see what it waits on.
				syscall.Kill(pids[s], syscall.SIGQUIT)
				time.Sleep(2 * time.Second)
				stderr, _ := os.ReadFile(s.stderrFile())
				t.Fatalf("%s's mini has not exited %v after it was told to quit:\n%s\nstderr:\n%s", s.name, tmuxDeadline, s.screen(), stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := os.Stat(filepath.Join(s.dir, "daemon.sock")); !os.IsNotExist(err) {
			t.Errorf("%s's node left its socket behind (%v)", s.name, err)
		}
	}
}
