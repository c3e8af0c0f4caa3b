package infra

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneNodePerDirAndPort: a second node on the data directory of a
// running one refuses to start (it would share its identity and mailbox),
// and so does one on a port a running node holds (libp2p binds TCP with
// SO_REUSEPORT: the two would split the devices between them), each with
// an error that says why.
func TestOneNodePerDirAndPort(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(Config{Dir: filepath.Join(dir, "a"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := Start(Config{Dir: filepath.Join(dir, "a"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true}); !errors.Is(err, ErrRunning) {
		t.Errorf("a second node on the same data directory: %v, want ErrRunning", err)
	}
	addr := first.Addrs()[0]
	taken := addr[:strings.Index(addr, "/p2p/")]
	n, err := Start(Config{Dir: filepath.Join(dir, "b"), Listen: []string{taken}, NoDHT: true})
	if err == nil {
		n.Close()
		t.Fatalf("a second node started on %s, which the first holds", taken)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("a node on a taken port: %v", err)
	}
	// Once the first stops, its directory can be used again.
	first.Close()
	again, err := Start(Config{Dir: filepath.Join(dir, "a"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
	if err != nil {
		t.Fatalf("the data directory after the first node stopped: %v", err)
	}
	again.Close()
}
