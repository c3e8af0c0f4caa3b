package p2p

import (
	"context"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerFound is what mDNS calls when it finds ai on the local network.
func PeerFound(x *Host, ai peer.AddrInfo) { mdnsNotifee{x}.HandlePeerFound(ai) }

// Validate runs the gossip validator of a topic on data as if it came from
// a peer.
func Validate(x *Host, topic, replication [32]byte, from peer.ID, data []byte) pubsub.ValidationResult {
	m := &pubsub.Message{Message: &pb.Message{Data: data}}
	return x.validator(topic, replication)(context.Background(), from, m)
}

// TopicName is the gossipsub topic of a network ID.
func TopicName(id [32]byte) string { return topicName(id) }
