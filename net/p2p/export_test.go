package p2p

import "github.com/libp2p/go-libp2p/core/peer"

// PeerFound is what mDNS calls when it finds ai on the local network.
func PeerFound(x *Host, ai peer.AddrInfo) { mdnsNotifee{x}.HandlePeerFound(ai) }
