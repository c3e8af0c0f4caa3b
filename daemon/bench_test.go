package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/net/p2p"
)

// benchDaemon runs a daemon for a benchmark and dials it over its socket.
func benchDaemon(b *testing.B) *client.Client {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "d")
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Dir: dir, Name: "bench", Net: p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatal(err)
	case <-time.After(30 * time.Second):
		b.Fatal("not ready")
	}
	c, err := client.Dial(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); cancel(); <-done })
	return c
}

// BenchmarkAPIAccountInfo is one unary call through the unix socket (h2c,
// bearer token, Connect protocol): the API's own overhead.
func BenchmarkAPIAccountInfo(b *testing.B) {
	c := benchDaemon(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Node.AccountInfo(ctx, &bv1.AccountInfoRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPISendText is SendText through the API: the call, the
// messenger's encoding, the node's send and the durable commit with its
// projection (compare messenger's BenchmarkSendText without the API).
func BenchmarkAPISendText(b *testing.B) {
	c := benchDaemon(b)
	ctx := context.Background()
	g, err := c.Node.GroupCreate(ctx, &bv1.GroupCreateRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Messenger.SendText(ctx, &bv1.SendTextRequest{Topic: g.Topic, Body: "a message of a usual length, sent through the API"}); err != nil {
			b.Fatal(err)
		}
	}
}
