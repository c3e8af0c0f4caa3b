package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/api/bertyv1/bertyv1connect"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/net/p2p"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDaemon is daemon.Run in a goroutine of the test, on a data directory
// of its own, serving the API on its unix socket and on a loopback TCP port.
type testDaemon struct {
	t      *testing.T
	dir    string
	addr   string // the API's TCP address, from DATA/daemon.addr
	token  string
	cancel context.CancelFunc
	done   chan error // Run's result
	err    error      // Run's result, once stop has it
	c      *client.Client
}

// config is what the tests run a daemon with: the API on a loopback port,
// libp2p on loopback TCP only, warnings and errors in the test's output.
func config(t *testing.T, dir, name string) daemon.Config {
	return daemon.Config{Dir: dir, Name: name, Listen: "127.0.0.1:0",
		Net:    p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}},
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// startDaemon runs a daemon until the test ends (or stop), and returns once
// its API is served (Config.Ready).
func startDaemon(t *testing.T, cfg daemon.Config) *testDaemon {
	t.Helper()
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	d := &testDaemon{t: t, dir: cfg.Dir, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() { d.stop() })
	select {
	case <-ready:
	case err := <-d.done:
		d.done <- err
		t.Fatalf("daemon.Run returned before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon is not ready after 30 s")
	}
	addr, err := os.ReadFile(filepath.Join(cfg.Dir, daemon.AddrFile))
	if err != nil {
		t.Fatalf("the daemon's TCP address: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(cfg.Dir, daemon.TokenFile))
	if err != nil {
		t.Fatalf("the daemon's token: %v", err)
	}
	d.addr, d.token = string(addr), strings.TrimSpace(string(tok))
	if d.c, err = client.Dial(cfg.Dir); err != nil {
		t.Fatal(err)
	}
	return d
}

// stop cancels Run's context and returns what Run returned. It is
// idempotent; the test's cleanup calls it.
func (d *testDaemon) stop() error {
	if d.cancel == nil {
		return d.err
	}
	if d.c != nil {
		d.c.Close()
	}
	d.cancel()
	d.cancel = nil
	select {
	case d.err = <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Errorf("daemon.Run has not returned 30 s after its context ended")
		d.err = errors.New("Run did not return")
	}
	return d.err
}

func (d *testDaemon) accountKey(t *testing.T) []byte {
	t.Helper()
	info, err := d.c.Node.AccountInfo(t.Context(), &bv1.AccountInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return info.AccountKey
}

// authHeader sets (or, with "", leaves out) the Authorization header of
// every call of a Connect client.
func authHeader(value string) connect.Option {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if value != "" {
				req.Header().Set("Authorization", value)
			}
			return next(ctx, req)
		}
	}))
}

// tokenHeader sends the token as a bearer token ("": none).
func tokenHeader(token string) connect.Option {
	if token == "" {
		return authHeader("")
	}
	return authHeader("Bearer " + token)
}

// tcpNode is a NodeService client over the daemon's TCP address.
func (d *testDaemon) tcpNode(token string, opts ...connect.ClientOption) bertyv1connect.NodeServiceClient {
	tr := &http.Transport{}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	d.t.Cleanup(tr.CloseIdleConnections)
	return bertyv1connect.NewNodeServiceClient(&http.Client{Transport: tr}, "http://"+d.addr,
		append([]connect.ClientOption{tokenHeader(token)}, opts...)...)
}

func code(err error) connect.Code {
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}

// TestUnauthenticated: every protocol the daemon serves refuses a call
// without the token, or with a wrong one, and says where the token is.
func TestUnauthenticated(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	wrong := strings.Repeat("0", len(d.token))
	for _, p := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", wrong}} {
				_, err := d.tcpNode(tc.token, p.opts...).AccountInfo(t.Context(), &bv1.AccountInfoRequest{})
				if code(err) != connect.CodeUnauthenticated {
					t.Errorf("%s: got %v, want code unauthenticated", tc.name, err)
					continue
				}
				var ce *connect.Error
				if errors.As(err, &ce) && !strings.Contains(ce.Message(), "token file") {
					t.Errorf("%s: the message %q does not say where the token is", tc.name, ce.Message())
				}
			}
			info, err := d.tcpNode(d.token, p.opts...).AccountInfo(t.Context(), &bv1.AccountInfoRequest{})
			if err != nil {
				t.Fatalf("with the token: %v", err)
			}
			if len(info.AccountKey) != 32 {
				t.Errorf("account key of %d bytes", len(info.AccountKey))
			}
		})
	}
}

// TestAuthorizationScheme: the scheme is case-insensitive (RFC 9110), the
// token is not, and nothing else passes.
func TestAuthorizationScheme(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Bearer " + d.token, true},
		{"bearer " + d.token, true},
		{"BEARER " + d.token, true},
		{"Bearer " + strings.ToUpper(d.token), strings.ToUpper(d.token) == d.token},
		{"Basic " + d.token, false},
		{"Bearer" + d.token, false},
		{"Bearer " + d.token + "x", false},
		{d.token, false},
	} {
		_, err := d.tcpNode("", authHeader(tc.header)).AccountInfo(t.Context(), &bv1.AccountInfoRequest{})
		if tc.ok != (err == nil) || (err != nil && code(err) != connect.CodeUnauthenticated) {
			t.Errorf("Authorization %q: %v, want accepted %v", strings.Replace(tc.header, d.token, "TOKEN", 1), err, tc.ok)
		}
	}
}

// TestFileModes: the data directory, the token and the socket are the
// owner's only (docs: "DATA/token (mode 0600)").
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	startDaemon(t, config(t, dir, "alice"))
	for _, f := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, daemon.TokenFile), 0o600},
		{filepath.Join(dir, daemon.SocketFile), 0o600},
	} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != f.want {
			t.Errorf("%s has mode %o, want %o", filepath.Base(f.path), got, f.want)
		}
	}
}

// TestDatabaseFilesPrivate: the database holds the account's seeds and
// every group's secrets; it must be the owner's only even in a data
// directory the user made beforehand (`mkdir ~/berty; berty daemon --data
// ~/berty`), as the token already is.
func TestDatabaseFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, config(t, dir, "alice"))
	d.accountKey(t)
	ms, err := filepath.Glob(filepath.Join(dir, daemon.DBFile+"*"))
	if err != nil || len(ms) == 0 {
		t.Fatalf("no database files in %s (%v)", dir, err)
	}
	for _, m := range ms {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o: others can read the account's secrets", filepath.Base(m), fi.Mode().Perm())
		}
	}
}

// TestSecondDaemon: a second daemon on a data directory in use refuses to
// start, names the first one's pid, and leaves the first one working (its
// token untouched).
func TestSecondDaemon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, config(t, dir, "alice"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := daemon.Run(ctx, config(t, dir, "alice"))
	if !errors.Is(err, daemon.ErrRunning) {
		t.Fatalf("second daemon: got %v, want ErrRunning", err)
	}
	if pid := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), pid) {
		t.Errorf("the error %q does not name the running daemon (%s)", err, pid)
	}
	tok, err := os.ReadFile(filepath.Join(dir, daemon.TokenFile))
	if err != nil || strings.TrimSpace(string(tok)) != d.token {
		t.Errorf("the refused daemon replaced the running one's token")
	}
	d.accountKey(t)
}

// TestListenNotLoopback: an API address reachable from the network is
// refused unless AllowRemote says so, before anything starts.
func TestListenNotLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:7777", "example.com:7777"} {
		t.Run(addr, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := config(t, dir, "alice")
			cfg.Listen = addr
			cfg.Ready = func() { t.Error("the daemon started") }
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := daemon.Run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), "allow-remote") {
				t.Fatalf("got %v, want a refusal that mentions --allow-remote", err)
			}
			for _, f := range []string{daemon.DBFile, daemon.TokenFile, daemon.SocketFile, daemon.AddrFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was created", f)
				}
			}
		})
	}
}

// TestGracefulShutdown: cancelling Run's context stops the daemon cleanly:
// Run returns nil, the socket and the address file are gone, and the data
// directory opens again on the same account.
func TestGracefulShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, config(t, dir, "alice"))
	ak := d.accountKey(t)
	gc, err := d.c.Node.GroupCreate(t.Context(), &bv1.GroupCreateRequest{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := d.c.Messenger.SendText(t.Context(), &bv1.SendTextRequest{Topic: gc.Topic, Body: "kept across restarts"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
	for _, f := range []string{daemon.SocketFile, daemon.AddrFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there after shutdown (%v)", f, err)
		}
	}
	if _, err := client.Dial(dir); !errors.Is(err, client.ErrNoDaemon) {
		t.Errorf("Dial after shutdown: got %v, want ErrNoDaemon", err)
	}

	d2 := startDaemon(t, config(t, dir, "someone else"))
	if ak2 := d2.accountKey(t); !bytes.Equal(ak, ak2) {
		t.Errorf("the account changed across a restart: %x, then %x", ak, ak2)
	}
	if d2.token == d.token {
		t.Errorf("the token was not renewed at start")
	}
	h, err := d2.c.Messenger.History(t.Context(), &bv1.HistoryRequest{Topic: gc.Topic})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Interactions) != 1 || !bytes.Equal(h.Interactions[0].Id, sent.Id) || h.Interactions[0].Body != "kept across restarts" {
		t.Errorf("history after the restart: %v", h.Interactions)
	}
}

// TestSubscribeReturnsAtOnce: opening the event stream returns before any
// event, so that a client can go on with other calls (`berty tail` opens
// the stream, then reads the history it prints first).
func TestSubscribeReturnsAtOnce(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := d.c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := d.c.Messenger.Conversations(ctx, &bv1.ConversationsRequest{}); err != nil {
		t.Fatalf("a call after Subscribe, with no event yet: %v", err)
	}
	gc, err := d.c.Node.GroupCreate(ctx, &bv1.GroupCreateRequest{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := d.c.Messenger.SendText(ctx, &bv1.SendTextRequest{Topic: gc.Topic, Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
		ev := stream.Msg()
		if ev.Kind == bv1.EventKind_EVENT_KIND_INTERACTION && bytes.Equal(ev.Topic, gc.Topic) && bytes.Equal(ev.Id, sent.Id) {
			return
		}
	}
	t.Fatalf("the stream ended without the message's event: %v", stream.Err())
}

// TestShutdownEndsStreams: a client with an open event stream (`berty
// tail`, `berty mini --remote`) neither holds the daemon's shutdown for its
// whole grace period nor is left waiting on a stream that will never send
// again: the stream ends when the daemon stops.
func TestShutdownEndsStreams(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	// The deadline only bounds a failing test: without it, a stream the
	// daemon never ends would block it until the test binary times out.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := d.c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for stream.Receive() {
		}
	}()
	start := time.Now()
	if err := d.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v with an open event stream", took.Round(time.Millisecond))
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Errorf("the event stream is still open 5 s after the daemon stopped")
	}
}
