// Command berty is the Berty in Go program: today the protocol demo; the
// daemon, the terminal client and the infrastructure servers join it as they
// land.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berty-go/berty/internal/demo"
)

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berty:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	c := &cobra.Command{
		Use:           "berty",
		Short:         "Peer-to-peer, offline-first, end-to-end encrypted messenger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.AddCommand(demoCmd())
	return c
}

func demoCmd() *cobra.Command {
	var o demo.Options
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run three accounts through the whole group life cycle on real SQLite files and libp2p",
		Long: `demo creates alice, bob and carol, each with a real SQLite database and a real
libp2p host on loopback (127.0.0.1: nothing leaves this machine), and runs the
group protocol between them — or, with --net memnet, through an in-process
network that shuffles and duplicates every entry:

  - alice and bob derive their contact group from each other's key and chat;
  - alice creates a group, invites bob and carol, everyone writes;
  - bob restarts from his database file;
  - alice removes carol, the group rotates its keys, and carol provably cannot
    read what follows;
  - alice sends bob a burst, to show throughput on durable storage.

It prints a transcript and timings. Nothing to install.`,
		Example: "  berty demo\n  berty demo --burst 20000\n  berty demo --net memnet --seed 7 --dup 0.5\n  berty demo --dir ./demo-data   # keep the databases to inspect with sqlite3",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Net != "libp2p" && o.Net != "memnet" {
				return fmt.Errorf("--net must be libp2p or memnet, got %q", o.Net)
			}
			if o.Dup < 0 || o.Dup > 1 {
				return fmt.Errorf("--dup must be between 0 and 1, got %g", o.Dup)
			}
			if o.Burst < 0 {
				return fmt.Errorf("--burst must not be negative, got %d", o.Burst)
			}
			if o.Dir != "" {
				if err := os.MkdirAll(o.Dir, 0o700); err != nil {
					return fmt.Errorf("--dir: %w", err)
				}
			}
			o.Out = cmd.OutOrStdout()
			return demo.Run(o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory for the SQLite files (default: a temporary directory, removed afterwards)")
	f.StringVar(&o.Net, "net", "libp2p", "network: libp2p (real hosts on loopback TCP) or memnet (in-process, shuffled)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the delivery order (--net memnet)")
	f.Float64Var(&o.Dup, "dup", 0.3, "probability that an entry is delivered twice (--net memnet)")
	f.IntVar(&o.Burst, "burst", 5000, "messages in the closing burst (0 to skip)")
	return c
}
