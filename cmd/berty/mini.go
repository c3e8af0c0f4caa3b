package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/internal/mini"
)

func miniCmd() *cobra.Command {
	var (
		cfg  mini.Config
		net  netOpts
		pass passOpts
	)
	c := &cobra.Command{
		Use:   "mini",
		Short: "Terminal chat client: conversations, history, slash commands (runs its own node, or --remote)",
		Long: `mini is a terminal chat client: the conversation list with unread badges on the
left, the selected conversation on the right, an input line, a status line with
peer counts and a help bar. Type /help for the slash commands:
  contacts   /contact share [qr], /contact add LINK, /accept, /discard, /cancel,
             /block NAME, /unblock NAME
  groups     /group new NAME, /invite [qr], /join LINK, /members, /remove NAME,
             /leave NAME
  messages   /react EMOJI, /edit TEXT, /delete, /search WORDS
  you        /name NAME, /peers, /debug, /quit

By default it runs its own node on the data directory, as "berty daemon" would
(the API on DATA/daemon.sock, so the other verbs work meanwhile; its log in
DATA/mini.log), with mDNS on: two minis on one machine or one LAN find each
other. With --remote it starts no node and attaches to the daemon already
serving the data directory.`,
		Example: "  berty mini --data /tmp/alice --name alice\n  berty mini --data /tmp/bob --name bob     # in another terminal\n  berty mini --remote                       # attach to a running berty daemon",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Remote {
				for _, f := range []string{"name", "mdns", "peer", "p2p-listen", "infra", "passphrase-file", "passphrase-fd", "no-passphrase"} {
					if cmd.Flags().Changed(f) {
						return exitError{code: exitUsage, err: fmt.Errorf("--%s configures the embedded node: with --remote, give it to `berty daemon` instead", f)}
					}
				}
			}
			if err := checkData(cfg.Dir); err != nil {
				return err
			}
			if !cfg.Remote {
				// Before the embedded node writes to --data.
				if err := checkName(cfg.Name); err != nil {
					return err
				}
				if err := net.apply(cfg.Dir, &cfg.Net); err != nil {
					return err
				}
				var err error
				if cfg.Passphrase, cfg.RequirePassphrase, err = pass.source(cfg.Dir, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			ctx, stop := run(cmd)
			defer stop()
			// A closed terminal window hangs up: stop the node cleanly then too.
			ctx, hangup := signal.NotifyContext(ctx, syscall.SIGHUP)
			defer hangup()
			err := mini.Run(ctx, cfg)
			switch {
			case errors.Is(err, daemon.ErrRunning):
				return exitError{code: exitNoDaemon, err: fmt.Errorf("%w; to use that daemon, add --remote", err)}
			case errors.Is(err, client.ErrNoDaemon):
				return exitError{code: exitNoDaemon, err: err}
			}
			return passErr(err)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Dir, "data", daemon.DefaultDir(), "data directory; $BERTY_DATA sets the default")
	f.BoolVar(&cfg.Remote, "remote", false, "attach to the daemon serving the data directory instead of running a node")
	f.StringVar(&cfg.Name, "name", os.Getenv("USER"), "display name of a new account")
	net.flags(f, &cfg.Net, true)
	pass.flags(f, true)
	return c
}
