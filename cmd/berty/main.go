// Command berty is the Berty in Go program: the device daemon and the CLI
// verbs that drive it (docs/api.md), the terminal chat `berty mini`, the
// demo and the bench. The infrastructure servers join it as they land.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berty-go/berty/internal/bench"
	"github.com/berty-go/berty/internal/demo"
)

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berty:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(exitFailed)
	}
}

// usageErrors makes argument and flag errors exit with exitUsage, as
// `berty --help` says, on c and every command below it; an unknown verb
// too, at any level ("berty frobnicate", "berty contact frobnicate"), which
// cobra would otherwise report as a plain error or answer with help and
// status 0.
func usageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitError{code: exitUsage, err: err} })
	if c.HasSubCommands() && c.Args == nil && !c.Runnable() {
		c.Args = unknownVerb
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return exitError{code: exitUsage, err: fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}

// unknownVerb is the Args of a command that only groups verbs: any
// argument is a verb it does not have.
func unknownVerb(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(": did you mean %q?", s[0])
	}
	return errors.New(msg)
}

// usagef is an error in what the person typed: exit status exitUsage.
func usagef(format string, a ...any) error {
	return exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func root() *cobra.Command {
	c := &cobra.Command{
		Use:   "berty",
		Short: "Peer-to-peer, offline-first, end-to-end encrypted messenger",
		Long: `Berty: peer-to-peer, offline-first, end-to-end encrypted messaging.

Start a device with "berty daemon"; the other verbs talk to it (same --data).
Exit codes: 0 done, 1 failed, 2 bad arguments or input, 3 no daemon (or a wrong
token, or one already running), 4 not found, 5 not allowed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.AddCommand(demoCmd(), benchCmd(), daemonCmd())
	c.AddCommand(cliCmds()...)
	c.AddCommand(miniCmd(), serveCmd(), passphraseCmd(), checkCmd())
	usageErrors(c)
	return c
}

func benchCmd() *cobra.Command {
	var (
		o         bench.Options
		scenarios string
		members   string
		quiet     bool
		profile   string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure latency, throughput and catch-up of devices on real libp2p over loopback",
		Long: `bench runs devices in this process, each with its own SQLite database and its own
libp2p host on 127.0.0.1 (nothing leaves this machine), forms a group, and measures:

  latency     one message at a time from one member to another: p50/p95/p99
  send        one member sends back to back, one durable call per message, as a
              chat UI does; time from each call to its delivery (--scenario send)
  throughput  every member writes its share at once (2, 3 and 5 members by default)
  catchup     a member offline while 1 000 and 10 000 messages are written, then back

It reports messages per second, CPU µs per message, peak RSS and, with --json, one
JSON object per line per scenario (scenario, members, messages, delivered, seconds,
msgs_per_sec, latency_p50_ms, latency_p95_ms, latency_p99_ms, cpu_us_per_msg,
peak_rss_mib, transport). Progress goes to stderr. --transport memnet --store mem is
the like-for-like setup of the predecessor's published figures.`,
		Example: "  berty bench\n  berty bench --scenario throughput --members 2,5 --messages 20000\n  berty bench --json > results.jsonl\n  berty bench --transport memnet --store mem",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if scenarios != "" {
				o.Scenarios = strings.Split(scenarios, ",")
			}
			if members != "" {
				for _, m := range strings.Split(members, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(m))
					if err != nil || n < 2 {
						return usagef("--members takes group sizes of 2 or more, like 2,3,5: got %q", m)
					}
					o.Members = append(o.Members, n)
				}
			}
			// Checked here too, not only by bench.Run: an unknown scenario
			// would otherwise fail after the ones before it have run.
			for _, sc := range o.Scenarios {
				if sc != "latency" && sc != "send" && sc != "throughput" && sc != "catchup" {
					return usagef("--scenario takes latency, send, throughput or catchup, comma-separated: got %q", sc)
				}
			}
			switch {
			case o.Transport != "tcp" && o.Transport != "quic" && o.Transport != "memnet":
				return usagef("--transport takes tcp, quic or memnet, got %q", o.Transport)
			case o.Store != "sqlite" && o.Store != "mem":
				return usagef("--store takes sqlite or mem, got %q", o.Store)
			case o.Store == "mem" && o.Transport != "memnet":
				return usagef("--store mem needs --transport memnet (a libp2p device keeps a SQLite file)")
			case o.Timeout < 0:
				return usagef("--timeout must not be negative, got %v", o.Timeout)
			}
			if o.Messages < 0 {
				return usagef("--messages must not be negative, got %d", o.Messages)
			}
			o.Out = cmd.OutOrStdout()
			if !quiet {
				o.Progress = cmd.ErrOrStderr()
			}
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			_, err := bench.Run(o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&scenarios, "scenario", "", "scenarios to run, comma-separated: latency, send, throughput, catchup (default: latency, throughput, catchup)")
	f.StringVar(&members, "members", "", "group sizes for throughput, comma-separated (default 2,3,5)")
	f.IntVar(&o.Messages, "messages", 0, "messages per scenario (default: latency 1000, throughput 10000, catch-up 1000 and 10000)")
	f.StringVar(&o.Transport, "transport", "tcp", "tcp or quic (libp2p on loopback), or memnet (in-process)")
	f.StringVar(&o.Store, "store", "sqlite", "sqlite (durable) or mem (with --transport memnet only)")
	f.BoolVar(&o.Plaintext, "plaintext", false, "leave the SQLite files unencrypted (encryption at rest is on by default, as for a user): to measure what it costs")
	f.BoolVar(&o.Protocol, "protocol-only", false, "leave the messenger out: the protocol layer alone (tcp and quic; memnet never has it)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per line per scenario")
	f.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "give up on a scenario after this long")
	f.StringVar(&o.Dir, "dir", "", "directory for the databases (default: a temporary directory, removed afterwards)")
	f.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
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

  - bob adds alice from her contact link: his request finds her at her
    rendezvous point over a Noise handshake, she accepts, they chat — a
    reply, a reaction, an edit, a read receipt;
  - alice creates a group, invites bob and carol, everyone writes;
  - bob restarts from his database file;
  - alice links her phone with a one-time device link: it follows her
    account into her conversations and writes as her;
  - alice removes carol, the group rotates its keys, and carol provably cannot
    read what follows; a fresh account with carol's old link is refused;
  - alice makes joins wait for her approval; carol comes back with a new link
    as a new membership, waits, is admitted, and reads only what follows;
  - alice revokes her phone: it receives bob's next message but cannot read it;
  - alice sends bob a burst, to show throughput on durable storage.

(On --net memnet there is no handshake transport: the contact group is derived
directly and device linking is skipped.)

It prints a transcript and timings. Nothing to install.`,
		Example: "  berty demo\n  berty demo --qr   # also draw alice's contact link as a QR code\n  berty demo --burst 20000\n  berty demo --net memnet --seed 7 --dup 0.5\n  berty demo --dir ./demo-data --plaintext   # keep the databases to inspect with sqlite3",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Net != "libp2p" && o.Net != "memnet" {
				return usagef("--net must be libp2p or memnet, got %q", o.Net)
			}
			if o.Dup < 0 || o.Dup > 1 {
				return usagef("--dup must be between 0 and 1, got %g", o.Dup)
			}
			if o.Burst < 0 {
				return usagef("--burst must not be negative, got %d", o.Burst)
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
	f.BoolVar(&o.Plaintext, "plaintext", false, "leave the SQLite files unencrypted, to open them with sqlite3 (encrypted at rest by default, each with an unprotected key file beside it)")
	f.StringVar(&o.Net, "net", "libp2p", "network: libp2p (real hosts on loopback TCP) or memnet (in-process, shuffled)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the delivery order (--net memnet)")
	f.Float64Var(&o.Dup, "dup", 0.3, "probability that an entry is delivered twice (--net memnet)")
	f.IntVar(&o.Burst, "burst", 5000, "messages in the closing burst (0 to skip)")
	f.BoolVar(&o.QR, "qr", false, "draw alice's contact link as a QR code in the terminal")
	return c
}
