package main

import (
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/net/p2p"
)

// The checks below run on the flags of the commands that start a node
// (daemon, device link, mini) before anything is written to --data: a typo
// in a flag must not leave an account behind. Each error is a usage error
// (exit 2) that names the flag and says what it takes. daemon.Run checks
// some of these again; the CLI cannot rely on it, as it creates the data
// directory first.

// checkData checks --data.
func checkData(dir string) error {
	if dir == "" {
		return usagef("--data is empty: give a directory (or leave the flag out for the default)")
	}
	return nil
}

// checkName checks a new account's display name (--name): what the
// profile event carries (docs/protocol.md §5.8).
func checkName(name string) error {
	if !utf8.ValidString(name) || len(name) > state.MaxProfileName {
		return usagef("--name takes UTF-8 text of at most %d bytes, got %d bytes", state.MaxProfileName, len(name))
	}
	if name != "" && strings.TrimSpace(name) == "" {
		return usagef("--name is only spaces: give a name, or leave it out")
	}
	return nil
}

// checkNet checks the libp2p flags: --p2p-listen, --peer and --bootstrap.
func checkNet(cfg p2p.Config) error {
	for _, a := range cfg.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return usagef("--p2p-listen %q is not a multiaddr (like /ip4/0.0.0.0/tcp/4001): %v", a, err)
		}
	}
	for _, f := range []struct {
		flag  string
		addrs []string
	}{{"--peer", cfg.Peers}, {"--bootstrap", cfg.Bootstrap}} {
		for _, a := range f.addrs {
			if _, err := peer.AddrInfoFromString(a); err != nil {
				return usagef("%s %q: want a multiaddr ending in /p2p/ID, like a \"listen\" line of `berty id` on that device (%v)", f.flag, a, err)
			}
		}
	}
	return nil
}

// checkTCP checks a host:port flag (--listen, --metrics) that serves what
// to the network; it must be a loopback address unless allowRemote.
func checkTCP(flag, addr, what string, allowRemote bool) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("%s %q is not host:port (like 127.0.0.1:7777): %v", flag, addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return usagef("%s %q: %q is not a port", flag, addr, port)
		}
	}
	if allowRemote {
		return nil
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return usagef("%s %q is not a loopback address: %s would be reachable from the network (pass --allow-remote if that is what you want)", flag, addr, what)
}
