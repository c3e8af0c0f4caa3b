package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/qr"
	"github.com/berty-go/berty/internal/term"
)

// dataFlag is the --data flag every daemon-facing command shares.
func dataFlag(c *cobra.Command, dir *string) {
	c.PersistentFlags().StringVar(dir, "data", daemon.DefaultDir(), "data directory (account database, socket, token); $BERTY_DATA sets the default")
}

func daemonCmd() *cobra.Command {
	var (
		cfg     daemon.Config
		net     netOpts
		pass    passOpts
		logOpts logFlags
	)
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run this device: the account, its network presence and the API",
		Long: `daemon opens the account in the data directory (creating it on first run), joins
the network and serves the berty.v1 API (Connect, gRPC and gRPC-Web, with server
reflection) on the unix socket DATA/daemon.sock, and optionally on a loopback TCP
address. Every call needs the bearer token in DATA/token (mode 0600), rewritten at
each start. A second daemon on the same data directory refuses to start.

The account's database is encrypted at rest. On a terminal, the first start asks
for a passphrase to lock it (empty: none) and later starts ask for it; without a
terminal give --passphrase-file or --passphrase-fd, or --no-passphrase for a new
account whose key stays unprotected. "berty passphrase" changes it.

Stop it with Ctrl-C or SIGTERM: calls in flight get 5 s, then everything is
flushed and closed.`,
		Example: "  berty daemon                                   # on a terminal: asks for the passphrase\n  berty daemon --data /tmp/alice --name alice --passphrase-file ~/.config/berty-pass\n  berty daemon --data /tmp/try --no-passphrase &   # a try-out in the background\n  berty daemon --listen 127.0.0.1:7777   # also on TCP, for grpcurl or a web page\n  berty daemon --infra /ip4/203.0.113.7/tcp/4040/p2p/12D3…   # reach contacts on other networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every flag is checked before daemon.Run writes to --data.
			if err := checkDaemon(cfg); err != nil {
				return err
			}
			if err := net.apply(cfg.Dir, &cfg.Net); err != nil {
				return err
			}
			var err error
			if cfg.Passphrase, cfg.RequirePassphrase, err = pass.source(cfg.Dir, cmd.ErrOrStderr()); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log, err := logOpts.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = log
			if cmd.Flags().Changed("name") && cfg.Name != "" && hasAccount(cfg.Dir) {
				cfg.Ready = func() { warnName(cmd.ErrOrStderr(), cfg.Dir, cfg.Name) }
			}
			err = daemon.Run(ctx, cfg)
			if errors.Is(err, daemon.ErrRunning) {
				return exitError{code: exitNoDaemon, err: err}
			}
			return passErr(err)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Dir, "data", daemon.DefaultDir(), "data directory; $BERTY_DATA sets the default")
	f.StringVar(&cfg.Name, "name", os.Getenv("USER"), "display name of a new account (\"berty name\" renames an existing one)")
	f.StringVar(&cfg.Listen, "listen", "", "also serve the API on this TCP address (loopback only, unless --allow-remote)")
	f.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow --listen on a non-loopback address")
	net.flags(f, &cfg.Net, false)
	pass.flags(f, true)
	f.BoolVar(&cfg.Net.DHT, "dht", false, "run the DHT (with --bootstrap peers; on with --infra)")
	f.StringSliceVar(&cfg.Net.Bootstrap, "bootstrap", nil, "DHT bootstrap peer multiaddr, repeatable")
	logOpts.flags(f)
	f.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics on this address (loopback only, unless --allow-remote), at /metrics, behind the API token (Prometheus: authorization.credentials_file: DATA/token)")
	return c
}

// deviceLinkCmd is `berty device link`: a daemon that starts as a new device
// of an existing account.
func deviceLinkCmd() *cobra.Command {
	var (
		cfg    daemon.Config
		net    netOpts
		pass   passOpts
		showQR bool
	)
	c := &cobra.Command{
		Use:   "link",
		Short: "Make this data directory a new device of your account, then run it as a daemon",
		Long: `link, on an empty data directory, shows a one-time device link (and, with --qr,
its QR code). On a device that already has the account, run
  berty device approve
and paste the link, within 10 minutes: it hands this device the account over an
encrypted handshake. The link is for that device only: whoever has it first can
hand this device another account.
This device then syncs the account and follows it into every contact and group,
and keeps running as "berty daemon" does.`,
		Example: "  berty device link --data ~/.local/share/berty-laptop --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3…",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDaemon(cfg); err != nil {
				return err
			}
			if err := net.apply(cfg.Dir, &cfg.Net); err != nil {
				return err
			}
			if !utf8.ValidString(cfg.DeviceName) || len(cfg.DeviceName) > link.MaxName {
				return usagef("--device-name takes UTF-8 text of at most %d bytes, got %d bytes", link.MaxName, len(cfg.DeviceName))
			}
			var err error
			if cfg.Passphrase, cfg.RequirePassphrase, err = pass.source(cfg.Dir, cmd.ErrOrStderr()); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			cfg.Link = true
			out := cmd.OutOrStdout()
			cfg.ShowLink = func(l *link.Device) {
				fmt.Fprintf(out, "On a device of your account, run\n  berty device approve\nand paste this link (for that device only: whoever has it first can take this one):\n  %s\n", l.URL())
				if showQR {
					if code, err := qr.Terminal(l.Compact()); err == nil {
						fmt.Fprint(out, code)
					}
				}
			}
			err = daemon.Run(ctx, cfg)
			switch {
			case errors.Is(err, daemon.ErrRunning):
				return exitError{code: exitNoDaemon, err: err}
			case errors.Is(err, device.ErrHasAccount):
				return exitError{code: exitUsage, err: err}
			}
			return passErr(err)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Dir, "data", daemon.DefaultDir(), "data directory (must hold no account yet)")
	f.StringVar(&cfg.DeviceName, "device-name", "", "this device's name, shown to the approving device")
	f.BoolVar(&showQR, "qr", false, "also draw the link as a QR code")
	net.flags(f, &cfg.Net, false)
	pass.flags(f, true)
	return c
}

// checkDaemon checks the flags of a command that runs daemon.Run.
func checkDaemon(cfg daemon.Config) error {
	for _, err := range []error{
		checkData(cfg.Dir),
		checkName(cfg.Name),
		checkTCP("--listen", cfg.Listen, "the API", cfg.AllowRemote),
		checkTCP("--metrics", cfg.Metrics, "the metrics", cfg.AllowRemote),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// hasAccount reports whether dir already holds an account's database.
func hasAccount(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, daemon.DBFile))
	return err == nil
}

// warnName tells the person, once the daemon serves its API, that --name
// did not rename the existing account: --name only names a new one. It asks
// the daemon through its own API, the one place that reads the account.
func warnName(w io.Writer, dir, name string) {
	c, err := client.Dial(dir)
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Node.AccountInfo(ctx, &bv1.AccountInfoRequest{})
	if err != nil || info.Name == name {
		return
	}
	fmt.Fprintf(w, "berty: warning: this account is named %q: --name only names a new account; to rename it, run `berty name %s --data %s`\n",
		term.Clean(info.Name), shellQuote(name), shellQuote(dir))
}

// shellQuote quotes s for a command line the person may paste.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(term.Clean(s), "'", `'\''`) + "'"
}

// Exit codes (documented in `berty --help`).
const (
	exitFailed   = 1 // something failed
	exitUsage    = 2 // bad arguments or input
	exitNoDaemon = 3 // no daemon on the data directory, a wrong token, or one already running
	exitNotFound = 4 // no such contact, conversation, message, device
	exitRefused  = 5 // not allowed: not the author, not an admin, blocked, revoked
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// run is the background context of a command, cancelled by Ctrl-C.
func run(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}
