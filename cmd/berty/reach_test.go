package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/netns"
)

// startServe runs `berty serve` in a namespace and returns the address it
// prints for ip (TCP).
func startServe(t *testing.T, ns, ip string) string {
	t.Helper()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, binary(t), "serve", "--data", filepath.Join(dir, "data"),
		"--listen", "/ip4/0.0.0.0/tcp/4040", "--listen", "/ip4/0.0.0.0/udp/4040/quic-v1", "--log-level", "debug")
	cmd.Stderr, cmd.Env, cmd.SysProcAttr = logf, env(), procAttr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("berty serve's log:\n%s", lastLines(string(b), 40))
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a := sc.Text(); strings.HasPrefix(a, "/ip4/"+ip+"/tcp/4040/p2p/") {
				found <- a
			}
		}
	}()
	select {
	case a := <-found:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("berty serve printed no address for " + ip + " in 30 s")
		return ""
	}
}

// TestTwoNetworks: alice and bob are at home, each on a private network
// behind a NAT router (network namespaces, nftables masquerade), and know
// only the address of one `berty serve` node on the "internet". Bob asks
// alice from her link, she accepts, and they chat both ways: the request
// finds her through the serve node's DHT, and everything crosses its relay
// (neither home can be dialed). Then both restart, and alice moves to new
// ports: they find each other again with nothing typed. Last, alice writes
// while bob is offline and leaves: bob gets it all from the mailbox.
func TestTwoNetworks(t *testing.T) {
	in := netns.NewInternet(t, 2)
	srv := startServe(t, in.Public, in.PublicIP)
	home := func(name, ns string) *proc {
		p := newProc(t, name)
		p.wrap = []string{"ip", "netns", "exec", ns}
		p.listen = []string{} // --infra's default: every interface of the home
		p.extra = []string{"--infra", srv, "--log-level", "debug"}
		p.start()
		return p
	}
	start := time.Now()
	alice, bob := home("alice", in.Homes[0]), home("bob", in.Homes[1])
	aliceID := alice.id()

	bob.cli("contact", "add", aliceID.Link)
	incoming := bv1.ContactState_CONTACT_STATE_INCOMING
	alice.until("bob's request", func() bool { return alice.contactState(bob.id().Account) == incoming })
	t.Logf("request crossed in %v", time.Since(start).Round(time.Millisecond))
	alice.cli("contact", "accept", bob.id().Account)
	bob.until("alice's acceptance", func() bool { return bob.conversation("alice") != nil })

	bob.cli("send", "alice", "hi alice, across two NATs")
	alice.until("bob's message", func() bool {
		cv := alice.conversation("bob")
		return cv != nil && alice.has(cv.Topic, "bob", "hi alice, across two NATs")
	})
	alice.cli("send", "bob", "hi bob, through the relay")
	bob.until("alice's message", func() bool {
		return bob.has(bob.conversation("alice").Topic, "alice", "hi bob, through the relay")
	})
	t.Logf("chat both ways after %v", time.Since(start).Round(time.Millisecond))

	// `berty id` shows the relayed address, the one a contact can use;
	// `berty peers` says bob is reached through the relay.
	if id := alice.id(); !strings.Contains(strings.Join(id.Listen, " "), "/p2p-circuit") {
		t.Errorf("alice's berty id shows no relayed address: %v", id.Listen)
	}
	var peers struct {
		Routes     map[string]string
		RelayAddrs []string `json:"relay_addrs"`
		Groups     []struct {
			Name               string
			Connected, Relayed int
		}
	}
	alice.cliJSON(&peers, "peers")
	if r := peers.Routes[bob.id().Peer]; r != "relayed" {
		t.Errorf("berty peers: bob is reached %q, want relayed (%+v)", r, peers)
	}
	if len(peers.RelayAddrs) == 0 {
		t.Errorf("berty peers shows no relayed address of alice's: %+v", peers)
	}
	for _, g := range peers.Groups {
		if g.Name == "bob" && (g.Connected != 1 || g.Relayed != 1) {
			t.Errorf("berty peers, the conversation with bob: %+v, want 1 peer, relayed", g)
		}
	}

	// Both restart (the relay slot, the ports and the peer's addresses
	// come back from the data directory), and chat again.
	alice.stop()
	bob.stop()
	restart := time.Now()
	alice.start()
	bob.start()
	alice.cli("send", "bob", "back again")
	bob.until("alice's message after the restarts", func() bool {
		return bob.has(bob.conversation("alice").Topic, "alice", "back again")
	})
	t.Logf("reachable again %v after the restarts", time.Since(restart).Round(time.Millisecond))

	// Alice comes back on other ports (the ones she had are taken, say):
	// bob finds her again with nothing typed.
	alice.stop()
	alice.listen = []string{"/ip4/0.0.0.0/tcp/4999", "/ip4/0.0.0.0/udp/4999/quic-v1"}
	restart = time.Now()
	alice.start()
	if id := alice.id(); !strings.Contains(strings.Join(id.Listen, " "), "/tcp/4999") {
		t.Fatalf("alice did not move to port 4999: %v", id.Listen)
	}
	bob.cli("send", "alice", "found you")
	alice.until("bob's message after her move", func() bool {
		return alice.has(alice.conversation("bob").Topic, "bob", "found you")
	})
	t.Logf("reachable again %v after a move to new ports", time.Since(restart).Round(time.Millisecond))

	// Offline delivery: bob is away while alice writes; she closes her
	// laptop right after; bob comes back and reads everything, from the
	// mailbox of the serve node, alice nowhere to be reached.
	bob.stop()
	for _, m := range []string{"are you there?", "I'm leaving too", "see you"} {
		alice.cli("send", "bob", m)
	}
	alice.stop()
	back := time.Now()
	bob.start()
	bob.until("alice's messages from the mailbox", func() bool {
		cv := bob.conversation("alice")
		return bob.has(cv.Topic, "alice", "are you there?") && bob.has(cv.Topic, "alice", "I'm leaving too") && bob.has(cv.Topic, "alice", "see you")
	})
	t.Logf("offline delivery: %v from bob's start to the last message", time.Since(back).Round(time.Millisecond))
}
