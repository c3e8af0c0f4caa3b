package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/pflag"

	"github.com/berty-go/berty/net/p2p"
)

// InfraFile, in a data directory, lists infrastructure nodes (`berty
// serve`) to use, one multiaddr a line, as --infra would: so that they need
// not be typed at every start. Lines starting with # are comments.
const InfraFile = "infra"

// infraListen is where a device that uses infrastructure nodes listens by
// default: every interface, so that a peer on the LAN, or one that hole
// punching brought, reaches it directly. (Without --infra the default stays
// loopback: p2p.DefaultListen.)
var infraListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// netOpts are the network flags of the commands that run a node.
type netOpts struct {
	listen []string
	infra  []string
}

const infraHelp = "infrastructure node (a line \"berty serve\" prints: …/p2p/ID), repeatable: DHT bootstrap, relay and mailbox, " +
	"so contacts on other networks, behind NATs, find and reach this device; also read from DATA/" + InfraFile +
	"; makes the node listen on every interface unless --p2p-listen says otherwise"

func (o *netOpts) flags(f *pflag.FlagSet, cfg *p2p.Config, mdnsDefault bool) {
	f.StringSliceVar(&o.listen, "p2p-listen", nil, "libp2p listen multiaddrs (default: TCP and QUIC on 127.0.0.1; on every interface with --infra); a port 0 is chosen once and kept across restarts")
	f.StringSliceVar(&cfg.Peers, "peer", nil, "static peer multiaddr (…/p2p/ID), repeatable")
	f.BoolVar(&cfg.MDNS, "mdns", mdnsDefault, "find peers on the local network by mDNS")
	f.StringSliceVar(&o.infra, "infra", nil, infraHelp)
}

// apply fills cfg from the flags and DATA/infra, after checking them.
func (o *netOpts) apply(dir string, cfg *p2p.Config) error {
	fromFile, err := readInfraFile(dir)
	if err != nil {
		return err
	}
	infra := slices.Compact(append(slices.Clone(o.infra), fromFile...))
	for _, a := range infra {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return usagef("--infra %q: want a multiaddr ending in /p2p/ID, one of the lines `berty serve` prints (%v)", a, err)
		}
	}
	cfg.Listen = o.listen
	if len(infra) > 0 {
		cfg.DHT = true
		cfg.Bootstrap = append(cfg.Bootstrap, infra...)
		cfg.Relays = append(cfg.Relays, infra...)
		cfg.Mailboxes = append(cfg.Mailboxes, infra...)
		if cfg.Listen == nil {
			cfg.Listen = infraListen
		}
	}
	return checkNet(*cfg)
}

// readInfraFile reads DATA/infra (no file: none).
func readInfraFile(dir string) ([]string, error) {
	path := filepath.Join(dir, InfraFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := peer.AddrInfoFromString(line); err != nil {
			return nil, usagef("%s line %d: %q is not a multiaddr ending in /p2p/ID (%v)", path, n, line, err)
		}
		out = append(out, line)
	}
	return out, sc.Err()
}
