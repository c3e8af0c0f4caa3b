package replica

import (
	"encoding/hex"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// v2AccountSnapshot is a version 2 snapshot (§7.4), written by commit
// 9d98332, of an account group with one "group joined" record (seeds:
// account || device). The review that found the break wrote it.
const (
	v2AccountSnapshot = "0201c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e902c7bb7cb93b6310b2f73bc087d87fa76a7fa46cd091b6678efe40cb63c0cea5ce020002c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e901016d9311b49848947a3253368615b19a3571a47c54b0cea2831f91441236113d25a20101ba60039d0200b3d18f0580c33aa53bf9e8180f9cdd8e8aa9368c7495f4df20c6c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e9b898187b29dffe593297b608e93912e01d6ca43b85822465079777bf69a873034716744e902b624a7db4bd85ebef2a10f47dbd6653be1a2f219f1c78d4c303954045300aa47f36bb98e54c00adf90604f827e5530e7a826998090f89602b280400c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e90202c7bb7cb93b6310b2f73bc087d87fa76a7fa46cd091b6678efe40cb63c0cea5ce47060302743ec3b77b982c67ec2b8f5c11107f6d26112de0089ae9cbf8c688e379a1f4000000000000000000000000000000000000000000000000000000000000000004636c7562010100535307426d32d9799ce2a0d8ed448fb307fb572b495f10f387962f56b2096f340000535307426d32d9799ce2a0d8ed448fb307fb572b495f10f387962f56b2096f34000000000000000001936586214695ea56ec3ecb8300858c3b3cdcef47dcd6d37a2206a031a91a7198020000000000000000000000000000000000000000000000000000000000000000c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e901b05b11c03b467ddc344aeb84a9a1680a01c99bf2b68d089092b0f7548aba068f0e15014cc620495f84982fee90f49120e90000"
	v2AccountSeeds    = "aefca77286015ec24861aac04906dddf8de27301da46619d7008ff2684df4101c031020f9720d6f729bef5488ace7209a0d3264d7afa83a6da333bb7a726ce7b"
)

// TestSnapshotV2Restores: a data directory written before memberships
// (§3.2) opens: its version 2 snapshot restores, as membership 0, with its
// events — a "group joined" record among them.
func TestSnapshotV2Restores(t *testing.T) {
	snap, _ := hex.DecodeString(v2AccountSnapshot)
	seeds, _ := hex.DecodeString(v2AccountSeeds)
	acct, dev := keys.FromSeed([32]byte(seeds[:32])), keys.FromSeed([32]byte(seeds[32:]))
	r, err := New(Config{Group: group.Account(acct), Account: acct, Device: dev, Rand: seededRand(1), Membership: 3}, snap)
	if err != nil {
		t.Fatalf("a version 2 snapshot of an account group does not restore: %v", err)
	}
	if n := len(r.State().Groups()); n != 1 {
		t.Fatalf("the restored account group lists %d groups, want 1", n)
	}
	if r.Membership() != 0 {
		t.Errorf("membership %d, want 0 for a version 2 snapshot", r.Membership())
	}
}
