package mini

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berty-go/berty/internal/netns"
	"github.com/berty-go/berty/store/atrest"
)

// TestTwoMinisFindEachOtherByMDNS: two `berty mini` started as the README
// says — no peer, no address, mDNS on by default — on one machine find each
// other and chat. The machine is a network namespace the test creates (a
// veth pair on private addresses that exist only inside the namespaces),
// so mDNS never touches a real network card; tmux runs inside it. Needs
// root, iproute2 and tmux (.ci/run provides them).
func TestTwoMinisFindEachOtherByMDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two nodes")
	}
	tmuxBin, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	ns, _ := netns.Pair(t, 9)

	dir := t.TempDir()
	bin := filepath.Join(dir, "berty")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/berty").CombinedOutput(); err != nil {
		t.Fatalf("build berty: %v: %s", err, out)
	}
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g escape-time 0\nset -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("berty-mini-mdns-%d", os.Getpid())
	// tmux (and so both minis) runs inside the namespace.
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, tmuxBin, "-u", "-L", server, "-f", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tmux("kill-server") })
	start := func(name string) *tmuxSession {
		s := &tmuxSession{t: t, tmux: tmux, name: name, dir: filepath.Join(dir, name)}
		// As the README says: a data directory and a name, nothing else.
		shell := strings.Join([]string{bin, "mini", "--data", s.dir, "--name", name}, " ") + " 2>" + s.stderrFile()
		if out, err := tmux("new-session", "-d", "-s", name, "-x", "300", "-y", "40", shell); err != nil {
			t.Fatalf("start %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { tmux("kill-session", "-t", name) })
		return s
	}
	alice, bob := start("alice"), start("bob")
	// A new account on a terminal: mini asks for a passphrase that will
	// unlock the data directory. alice chooses one; bob presses enter.
	alice.waitText("Choose a passphrase")
	alice.typeLine("correct horse")
	alice.waitText("Again:")
	alice.typeLine("correct horse")
	bob.waitText("Choose a passphrase")
	bob.typeLine("")
	alice.waitText("alice · ", bob)
	bob.waitText("bob · ", alice)
	alice.typeLine("/contact share")
	link := contactLink.FindString(alice.waitFor("a contact link", contactLink.MatchString))
	bob.typeLine("/contact add " + link)
	alice.waitText("contact request from bob", bob)
	alice.typeLine("/accept")
	bob.waitText("alice is now a contact", alice)
	bob.waitText("alice · contact", alice)
	bob.typeLine("found you by mDNS")
	alice.waitText("found you by mDNS", bob)
	for name, want := range map[string]atrest.Kind{"alice": atrest.Passphrase, "bob": atrest.Unprotected} {
		if k, ok, err := atrest.Status(filepath.Join(dir, name, "berty.db")); err != nil || !ok || k != want {
			t.Errorf("%s's key file: %v %v %v, want %v", name, k, ok, err, want)
		}
	}
}
