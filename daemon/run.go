package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/berty-go/berty/api/bertyv1/bertyv1connect"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/dirlock"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/store/atrest"
)

// Files in a data directory (docs/api.md).
const (
	DBFile     = "berty.db"
	SocketFile = "daemon.sock"
	TokenFile  = "token"
	LockFile   = "daemon.lock"
	AddrFile   = "daemon.addr" // the TCP address, when the daemon also listens on one
	// MetricsAddrFile holds the metrics address, when --metrics is set
	// (the port the system chose for a ":0").
	MetricsAddrFile = "metrics.addr"
)

// ErrRunning is returned when another daemon holds the data directory.
var ErrRunning = errors.New("another berty daemon is running on this data directory")

// Config configures Run.
type Config struct {
	// Dir is the data directory (created 0700 if missing).
	Dir string
	// Name is the display name of a new account.
	Name string
	// Listen is an optional TCP address for the API besides the unix
	// socket; it must be a loopback address unless AllowRemote is set.
	Listen      string
	AllowRemote bool
	// Metrics, if set, serves Prometheus metrics at http://Metrics/metrics
	// (loopback only, unless AllowRemote).
	Metrics string
	// Net configures the libp2p host (zero: TCP and QUIC on 127.0.0.1).
	Net p2p.Config
	// Logger receives structured logs (nil: text on stderr).
	Logger *slog.Logger
	// Ready, if set, is called once the API is served.
	Ready func()
	// Link makes this a new device of an existing account (§11.7): on an
	// empty data directory, the daemon shows a one-time device link
	// through ShowLink and waits until a device of the account approves
	// it (`berty device approve LINK` there) or the link expires.
	Link       bool
	DeviceName string
	ShowLink   func(*link.Device)
	// Passphrase gives the passphrase that seals the database's key
	// (docs/protocol.md §8.1); nil: none can be asked. RequirePassphrase
	// refuses a key file that has none (device.Config).
	Passphrase        atrest.PassFunc
	RequirePassphrase bool
}

// DefaultDir is the data directory when none is given: $BERTY_DATA, else
// $XDG_DATA_HOME/berty, else ~/.local/share/berty.
func DefaultDir() string { return DataDir("BERTY_DATA", "berty") }

// DataDir is a program's default data directory: $env, else
// $XDG_DATA_HOME/name, else ~/.local/share/name, else name-data.
func DataDir(env, name string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, name)
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", name)
	}
	return name + "-data"
}

// Run opens the device of a data directory and serves the API until ctx
// ends, then shuts down in order: the API (in-flight calls get 5 s), then
// the device (host, node, messenger, store), everything flushed.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Net.Logger == nil {
		cfg.Net.Logger = log.With("part", "net")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// It holds the account's secrets: owner only, even if it existed.
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lock(cfg.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if cfg.Listen != "" && !cfg.AllowRemote {
		if err := checkLoopback(cfg.Listen); err != nil {
			return err
		}
	}
	dcfg := device.Config{Path: filepath.Join(cfg.Dir, DBFile), Name: cfg.Name, Net: cfg.Net, Passphrase: cfg.Passphrase, RequirePassphrase: cfg.RequirePassphrase}
	var d *device.Device
	if cfg.Link {
		log.Info("waiting to be approved by a device of the account", "ttl", device.DefaultLinkTTL)
		d, err = device.Link(ctx, device.LinkConfig{Config: dcfg, DeviceName: cfg.DeviceName, Show: cfg.ShowLink})
	} else {
		d, err = device.Open(dcfg)
	}
	if err != nil {
		return fmt.Errorf("open the device: %w", err)
	}
	if d.AtRest == atrest.Unprotected {
		log.Warn("the database is encrypted with a key kept unprotected beside it: whoever copies the data directory reads it; set a passphrase with `berty passphrase --data DIR` while the daemon is stopped")
	}
	defer func() {
		if err := d.Close(); err != nil {
			log.Error("close the device", "err", err)
		}
	}()
	// The token is written once the device is open: a start that fails
	// (a wrong passphrase) leaves the directory as it was.
	token, err := newToken(cfg.Dir)
	if err != nil {
		return err
	}
	srv, err := NewServer(d, log)
	if err != nil {
		return err
	}
	if cfg.Metrics != "" {
		stopMetrics, addr, err := serveMetrics(cfg.Metrics, cfg.AllowRemote, d, token, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
		if err := os.WriteFile(filepath.Join(cfg.Dir, MetricsAddrFile), []byte(addr), 0o600); err != nil {
			return err
		}
		defer os.Remove(filepath.Join(cfg.Dir, MetricsAddrFile))
	}
	handler := Handler(srv, token)

	sock := filepath.Join(cfg.Dir, SocketFile)
	os.Remove(sock) // a stale socket of a daemon that died (the lock says none runs)
	ul, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ul.Close()
		return err
	}
	listeners := []net.Listener{ul}
	if cfg.Listen != "" {
		tl, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			ul.Close()
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		listeners = append(listeners, tl)
		if err := os.WriteFile(filepath.Join(cfg.Dir, AddrFile), []byte(tl.Addr().String()), 0o600); err != nil {
			return err
		}
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: MaxHeaderBytes}
	hs.RegisterOnShutdown(srv.shutdown) // streams end at once, not after the grace period
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true) // gRPC clients speak h2c
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errs <- hs.Serve(l) }()
	}
	ak := d.Node.AccountKey()
	log.Info("daemon ready", "dir", cfg.Dir, "socket", sock, "tcp", cfg.Listen, "account", ak.String(), "peer", d.Host.ID().String())
	if cfg.Ready != nil {
		cfg.Ready()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("API shutdown: closing the calls still running", "err", err)
		hs.Close()
	}
	os.Remove(sock)
	os.Remove(filepath.Join(cfg.Dir, AddrFile))
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Request size limits: every API request is one protobuf message (the
// streams are server streams), the largest legitimate one a node-level
// message of at most 64 KiB; the limits leave room for any of them and
// stop a caller — or anyone on the network when --allow-remote is on —
// from making the daemon buffer an unbounded body or header.
const (
	MaxRequestBytes = 1 << 20  // one request message, decoded
	MaxBodyBytes    = 2 << 20  // a whole request body, framing and compression included
	MaxHeaderBytes  = 64 << 10 // request line and headers
)

// Handler serves both services and gRPC reflection behind the bearer token,
// with the request size limits above.
func Handler(srv *Server, token string) http.Handler {
	mux := http.NewServeMux()
	limit := connect.WithReadMaxBytes(MaxRequestBytes)
	mux.Handle(bertyv1connect.NewNodeServiceHandler(srv, limit))
	mux.Handle(bertyv1connect.NewMessengerServiceHandler(srv, limit))
	reflector := grpcreflect.NewStaticReflector(bertyv1connect.NodeServiceName, bertyv1connect.MessengerServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, limit))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, limit))
	return requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		mux.ServeHTTP(w, r)
	}))
}

// requireToken serves next only to requests that carry the bearer token.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="berty"`)
			// gRPC and gRPC-Web clients read the status from trailers-only
			// responses, of their own content type.
			if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc") {
				w.Header().Set("Content-Type", ct)
				w.Header().Set("Grpc-Status", "16") // UNAUTHENTICATED
				w.Header().Set("Grpc-Message", "missing or wrong token: read it from the data directory's token file")
				w.WriteHeader(http.StatusOK)
				return
			}
			// The Connect protocol's error body.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"code":"unauthenticated","message":"missing or wrong token: read it from the data directory's token file"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// newToken writes a fresh bearer token, readable by the owner only.
func newToken(dir string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	path := filepath.Join(dir, TokenFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write the token: %w", err)
	}
	return tok, nil
}

// lock takes the data directory's lock, or says who holds it.
// Lock takes the data directory as the daemon does (ErrRunning if a daemon
// or another tool holds it): for tools that change its files offline.
func Lock(dir string) (unlock func(), err error) { return lock(dir) }

func lock(dir string) (unlock func(), err error) {
	unlock, err = dirlock.Lock(dir, LockFile)
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%w (%s, pid %s): stop it first, or use another --data", ErrRunning, held.Dir, held.Pid)
	}
	return unlock, err
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--listen %q is not a loopback address: the API would be reachable from the network (pass --allow-remote if that is what you want)", addr)
}
