package mini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/store/atrest"
)

// LogFile is the embedded node's log, in the data directory (the terminal
// belongs to the client).
const LogFile = "mini.log"

// PeerRefresh is how often the peer status is read again: peers come and go
// without an event on the stream.
const PeerRefresh = 5 * time.Second

// retryStream is how long to wait before opening a broken event stream again.
const retryStream = 2 * time.Second

// Config configures Run.
type Config struct {
	// Dir is the data directory.
	Dir string
	// Remote attaches to the daemon that serves Dir instead of running one
	// in this process; Name and Net are then the daemon's business.
	Remote bool
	// Name is the display name of a new account (embedded node).
	Name string
	// Net configures the embedded node's libp2p host (p2p.Config's zero
	// value: TCP and QUIC on 127.0.0.1, no mDNS; `berty mini` turns mDNS on).
	Net p2p.Config
	// Passphrase gives the passphrase of the embedded node's database
	// (daemon.Config.Passphrase, RequirePassphrase).
	Passphrase        atrest.PassFunc
	RequirePassphrase bool
	// Input and Output are the terminal (nil: the process's).
	Input  io.Reader
	Output io.Writer
}

// Run runs the client until the person quits or ctx ends (the caller turns
// SIGINT and SIGTERM into the end of ctx). Unless
// cfg.Remote, it first starts a node on cfg.Dir in this process (daemon.Run,
// logging to DIR/mini.log), waits until it serves its API, and talks to it
// through its socket like any other client; on the way out it stops the
// node and waits for it to close.
func Run(ctx context.Context, cfg Config) (err error) {
	mode := "remote daemon"
	if !cfg.Remote {
		mode = "embedded node"
		stop, err := startNode(ctx, cfg)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	api, err := Dial(cfg.Dir)
	if err != nil {
		return err
	}
	defer api.Close()

	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Signals are the caller's, through ctx: Bubble Tea's own handler
	// would block forever sending its quit message when ctx has already
	// stopped the program, and Run would never return.
	opts := []tea.ProgramOption{tea.WithContext(mctx), tea.WithoutSignalHandler()}
	if cfg.Input != nil {
		opts = append(opts, tea.WithInput(cfg.Input))
	}
	if cfg.Output != nil {
		opts = append(opts, tea.WithOutput(cfg.Output))
	}
	p := tea.NewProgram(New(ModelConfig{API: api, Dir: cfg.Dir, Mode: mode, Context: mctx}), opts...)
	var wg sync.WaitGroup
	wg.Go(func() { pump(mctx, api, p.Send) })
	wg.Go(func() { tick(mctx, PeerRefresh, p.Send) })
	_, err = p.Run()
	cancel()
	wg.Wait()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil // stopped by a signal: a normal end
	}
	return err
}

// startNode runs daemon.Run on cfg.Dir in the background and waits until it
// serves; stop cancels it and returns its error once it has closed.
func startNode(ctx context.Context, cfg Config) (stop func() error, err error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the log: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logf, nil))
	if cfg.Net.Logger == nil {
		cfg.Net.Logger = log
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	closed := make(chan struct{})
	var runErr error
	go func() {
		defer close(closed)
		runErr = daemon.Run(nctx, daemon.Config{Dir: cfg.Dir, Name: cfg.Name, Net: cfg.Net, Passphrase: cfg.Passphrase, RequirePassphrase: cfg.RequirePassphrase, Logger: log, Ready: func() { close(ready) }})
	}()
	stop = func() error {
		cancel()
		<-closed
		logf.Close()
		return runErr
	}
	select {
	case <-ready:
		return stop, nil
	case <-closed:
		logf.Close()
		cancel()
		return nil, fmt.Errorf("start the node (its log: %s): %w", logf.Name(), runErr)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// pump reads the daemon's event stream into the program until ctx ends,
// opening it again when it breaks. Each (re)opening is followed by a
// resync: events sent while it was closed are lost.
func pump(ctx context.Context, api API, send func(tea.Msg)) {
	for {
		st, err := api.Subscribe(ctx)
		if err == nil {
			send(resyncMsg{})
			for st.Receive() {
				send(eventMsg{st.Msg()})
			}
			err = st.Err()
			st.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the daemon closed the event stream")
		}
		send(streamErrMsg{err})
		t := time.NewTimer(retryStream)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if r, ok := api.(interface{ Redial() error }); ok && unreachable(err) {
			r.Redial() // on failure, the next Subscribe says why
		}
	}
}

// tick sends a tickMsg every d until ctx ends.
func tick(ctx context.Context, d time.Duration, send func(tea.Msg)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			send(tickMsg{})
		}
	}
}
