package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/infra"
)

func serveCmd() *cobra.Command {
	var (
		cfg         infra.Config
		allow       []string
		metrics     string
		allowRemote bool
		logOpts     logFlags
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run an infrastructure node (no account): DHT bootstrap, relay and mailbox for devices on other networks",
		Long: `serve runs an infrastructure node, the kind you host on a VPS so that devices on
different networks, behind NATs, find and reach each other. It opens no account,
holds no key of any conversation and reads nothing; it offers:

  bootstrap  a server of Berty's DHT (/berty/kad), where devices announce and look
             up the rotating rendezvous values of their conversations and contact
             links (values the node cannot link to a group or a person)
  relay      circuit relay v2: a device behind a NAT holds a slot here and is
             reachable through it; two such devices then try to connect directly
             (hole punching) and keep the relay only if that fails
  mailbox    keeps the conversations' entries (encrypted: it holds no key that reads
             them) for a device that is offline, and hands them over when it is back;
             in DATA/mailbox.db, each entry for --mailbox-keep
  autonat    tells devices whether they are reachable from outside

At start it prints the addresses devices should use, one a line (TCP and QUIC,
per interface); give one of them — or several: they name one node — to each
device with "berty daemon --infra ADDR" (or put it in DATA/infra of the device).
Its identity (the /p2p/ID part) lives in --data/identity.key and stays across
restarts; keep the ports fixed (the default 4040, or --listen) so the addresses do.

The relay and the mailbox are open to every device unless --allow-peer lists the
only ones they serve (their peer IDs: "berty id" shows a device's). Its limits bound what one
device costs: slots, circuits per device, and the length and bytes of a relayed
connection, after which the devices open another. With --relay-circuit-duration
and --relay-circuit-data both negative, relayed connections have no limit and
devices gossip over them too.

It logs its start, then a summary a minute at info (peers connected; entries the
mailbox stored, served and refused since the start — a refusal is most often a
device putting before it registered, which it does next); --log-level debug adds
every connection and every refused mailbox request with its reason. One node runs
per data directory, and it will not share a port another program holds.

Stop it with Ctrl-C or SIGTERM.`,
		Example: "  berty serve\n  berty serve --data /var/lib/berty-serve --announce /ip4/203.0.113.7/tcp/4040\n  berty serve --listen /ip4/0.0.0.0/tcp/443 --metrics 127.0.0.1:9464",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkData(cfg.Dir); err != nil {
				return err
			}
			for _, f := range []struct {
				flag  string
				addrs []string
			}{{"--listen", cfg.Listen}, {"--announce", cfg.Announce}} {
				for _, a := range f.addrs {
					if _, err := multiaddr.NewMultiaddr(a); err != nil {
						return usagef("%s %q is not a multiaddr (like /ip4/203.0.113.7/tcp/4040): %v", f.flag, a, err)
					}
				}
			}
			for _, a := range allow {
				id, err := peer.Decode(a)
				if err != nil {
					return usagef("--allow-peer %q is not a peer ID (the \"peer\" line of `berty id` on that device): %v", a, err)
				}
				cfg.Allow = append(cfg.Allow, id)
			}
			if err := checkTCP("--metrics", metrics, "the metrics", allowRemote); err != nil {
				return err
			}
			log, err := logOpts.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = log
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Registerer = reg
			ctx, stop := run(cmd)
			defer stop()
			n, err := infra.Start(cfg)
			if errors.Is(err, infra.ErrRunning) {
				return exitError{code: exitNoDaemon, err: err}
			}
			if err != nil {
				return err
			}
			defer func() {
				log.Info("stopping")
				if err := n.Close(); err != nil {
					log.Error("stop", "err", err)
				}
			}()
			for _, c := range []struct {
				name, help string
				f          func(infra.MailboxStats) int64
			}{
				{"mailbox_stored_total", "Entries the mailbox stored.", func(s infra.MailboxStats) int64 { return s.Stored }},
				{"mailbox_served_total", "Entries the mailbox served.", func(s infra.MailboxStats) int64 { return s.Served }},
				{"mailbox_refused_total", "Mailbox requests refused (unknown group, bad proof, bad entry, over quota).", func(s infra.MailboxStats) int64 { return s.Refused }},
			} {
				reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "berty", Name: c.name, Help: c.help},
					func() float64 { return float64(c.f(n.MailboxStats())) }))
			}
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "berty", Name: "peers", Help: "Connected peers."},
				func() float64 { return float64(n.Peers()) }))
			out := cmd.OutOrStdout()
			for _, a := range n.Addrs() {
				fmt.Fprintln(out, a)
			}
			services := []string{}
			if !cfg.NoDHT {
				services = append(services, "bootstrap")
			}
			if !cfg.NoRelay {
				services = append(services, "relay")
			}
			if !cfg.NoMailbox {
				services = append(services, "mailbox")
			}
			services = append(services, "autonat")
			log.Info("serving", "peer", n.ID().String(), "services", strings.Join(services, ","), "data", cfg.Dir)
			if metrics != "" {
				l, err := net.Listen("tcp", metrics)
				if err != nil {
					return fmt.Errorf("--metrics: %w", err)
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
				hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
						log.Error("metrics stopped", "err", err)
					}
				}()
				defer hs.Close()
				log.Info("metrics", "addr", "http://"+l.Addr().String()+"/metrics")
			}
			<-ctx.Done()
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Dir, "data", daemon.DataDir("BERTY_SERVE_DATA", "berty-serve"), "data directory (the node's identity and the mailbox); $BERTY_SERVE_DATA sets the default")
	f.StringSliceVar(&cfg.Listen, "listen", infra.DefaultListen, "listen multiaddrs")
	f.StringSliceVar(&cfg.Announce, "announce", nil, "advertise these multiaddrs instead of the listen addresses (a public address behind a port mapping)")
	f.BoolVar(&cfg.NoDHT, "no-dht", false, "do not serve the DHT")
	f.BoolVar(&cfg.NoRelay, "no-relay", false, "do not relay")
	f.StringSliceVar(&allow, "allow-peer", nil, "relay and keep mail only for these peer IDs, repeatable (default: every device)")
	f.IntVar(&cfg.Limits.Reservations, "relay-slots", 1024, "devices that may hold a relay slot at once")
	f.IntVar(&cfg.Limits.PerIP, "relay-slots-per-ip", 32, "relay slots per IP address")
	f.IntVar(&cfg.Limits.Circuits, "relay-circuits", 32, "relayed connections open at once per device")
	f.DurationVar(&cfg.Limits.Duration, "relay-circuit-duration", 30*time.Minute, "a relayed connection ends after this long (negative: no limit)")
	f.Int64Var(&cfg.Limits.Data, "relay-circuit-data", 64<<20, "a relayed connection ends after this many bytes each way (negative: no limit)")
	f.BoolVar(&cfg.NoMailbox, "no-mailbox", false, "do not keep groups for offline devices")
	f.IntVar(&cfg.Mailbox.Groups, "mailbox-groups", 4096, "spaces (a conversation's network) one device may register with the mailbox")
	f.Int64Var(&cfg.Mailbox.Bytes, "mailbox-bytes", 256<<20, "bytes one space may hold")
	f.Int64Var(&cfg.Mailbox.AuthorBytes, "mailbox-device-bytes", 64<<20, "bytes one device may hold in a space")
	f.IntVar(&cfg.Mailbox.Authors, "mailbox-devices", 1024, "devices whose entries one space holds")
	f.Int64Var(&cfg.Mailbox.Total, "mailbox-total", 16<<30, "bytes the whole mailbox holds")
	f.IntVar(&cfg.Mailbox.Spaces, "mailbox-spaces", 100_000, "spaces the whole mailbox holds")
	f.DurationVar(&cfg.Mailbox.Keep, "mailbox-keep", 30*24*time.Hour, "how long the mailbox keeps an entry, and a group no device registers or reads")
	f.StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this address at /metrics (loopback only, unless --allow-remote)")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow --metrics on a non-loopback address")
	logOpts.flags(f)
	return c
}
