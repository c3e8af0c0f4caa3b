package seal

// HKDF labels (the info parameter), one per derived value. They are part of the
// wire protocol: changing one changes every key derived from it. The table in
// docs/protocol.md §3.1 lists them with their secret and salt.
const (
	LabelSealedBox = "berty/v1/sealed-box"
	// LabelHybridBox derives the key of a hybrid (X25519 + ML-KEM-768)
	// sealed box from both shared secrets (§3.5).
	LabelHybridBox = "berty/v2/hybrid-box"

	LabelAccountGroup = "berty/v1/account-group"
	LabelContactGroup = "berty/v1/contact-group"
	LabelMemberKey    = "berty/v1/member-key"
	LabelDeviceKey    = "berty/v2/device-key"
	// A membership after the first in a multi-member group (rejoining after
	// leaving or a removal, §3.2): salt = group ID || membership (4 bytes
	// big-endian).
	LabelRejoinMemberKey = "berty/v2/rejoin/member-key"
	LabelRejoinDeviceKey = "berty/v2/rejoin/device-key"
	LabelDeviceX25519    = "berty/v1/device-x25519"
	LabelPeerKey         = "berty/v1/peer-key"

	LabelMetadataKey    = "berty/v1/group/metadata-key"
	LabelHeaderKey      = "berty/v1/group/header-key"
	LabelReplicationKey = "berty/v1/group/replication-key"
	LabelTopic          = "berty/v1/group/topic"

	// Epochs (§3.4): an epoch secret's public ID and its metadata key.
	LabelEpochID       = "berty/v2/epoch/id"
	LabelEpochMetadata = "berty/v2/epoch/metadata-key"
	// An epoch's network key (proofs of sync, rendezvous) and the public ID
	// it goes by on the network (gossip topic, sync opening).
	LabelEpochNetwork = "berty/v2/epoch/network-key"
	LabelNetworkID    = "berty/v2/network-id"

	LabelMessageKey = "berty/v1/ratchet/message-key"
	LabelChainKey   = "berty/v1/ratchet/chain-key"
)
