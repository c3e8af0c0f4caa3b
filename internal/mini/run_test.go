package mini

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
)

// TestRunEmbeddedStartsAndStops: Run starts a node on the data directory,
// runs the client on the terminal it is given, and on ctrl+c stops the
// node and waits for it: the socket is gone, the log is in the data
// directory, and no goroutine is left.
func TestRunEmbeddedStartsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := filepath.Join(t.TempDir(), "alice")
	var out bytes.Buffer
	err := Run(context.Background(), Config{Dir: dir, Name: "alice", Input: strings.NewReader("\x03"), Output: &out})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, daemon.SocketFile)); !os.IsNotExist(err) {
		t.Errorf("the node's socket is still there (%v)", err)
	}
	log, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil || !strings.Contains(string(log), "daemon ready") {
		t.Errorf("no node log in the data directory (%v): %s", err, log)
	}
	// The terminal is given back as it was: the alternate screen left.
	o := out.String()
	if enter, leave := strings.Index(o, "\x1b[?1049h"), strings.LastIndex(o, "\x1b[?1049l"); enter < 0 || leave < enter {
		t.Errorf("the alternate screen was not entered and left: %q", o)
	}
}

func TestRunRemoteWithoutDaemon(t *testing.T) {
	err := Run(context.Background(), Config{Dir: t.TempDir(), Remote: true, Input: strings.NewReader(""), Output: io.Discard})
	if !errors.Is(err, client.ErrNoDaemon) {
		t.Fatalf("Run --remote without a daemon: %v, want ErrNoDaemon", err)
	}
}

// TestRunRefusesABusyDataDirectory: a second client on the same data
// directory is told that a node already runs there.
func TestRunRefusesABusyDataDirectory(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Dir: dir, Name: "x", Logger: discardLogger(), Ready: func() { close(ready) }})
	}()
	<-ready
	err := Run(context.Background(), Config{Dir: dir, Input: strings.NewReader(""), Output: io.Discard})
	cancel()
	if derr := <-done; derr != nil {
		t.Fatal(derr)
	}
	if !errors.Is(err, daemon.ErrRunning) {
		t.Fatalf("Run on a busy data directory: %v, want ErrRunning", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
