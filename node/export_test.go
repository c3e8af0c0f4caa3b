package node

import (
	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
)

// What a compromised device's modified client does, for the containment
// tests: record any key as its own in a group, approve any key there.

func (n *Node) RecordGroupKeyForTest(groupID, key keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	return n.recordGroupKey(groupID, key)
}

func (n *Node) ApproveInGroupForTest(topic [32]byte, key keys.Public) error {
	return n.groupCommand(topic, func(run *groupRun, lk feed.Lookup) error { return run.rep.ApproveDevice(key, lk) })
}

func (n *Node) AccountStateForTest() *state.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acct.rep.State()
}

// PostInGroupForTest writes an event in one group only: a modified client
// that moves its account to a key of its own in one contact group.
func (n *Node) PostInGroupForTest(topic [32]byte, ev *state.Event) error {
	return n.groupCommand(topic, func(run *groupRun, lk feed.Lookup) error { return run.rep.Post(ev, lk) })
}

// Review hooks.

// GroupStateForTest returns the state of a group this node is in.
func (n *Node) GroupStateForTest(topic [32]byte) *state.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	if run := n.groups[topic]; run != nil {
		return run.rep.State()
	}
	return nil
}

// RevokeOnlyForTest is RevokeDevice cut short by a crash right after the
// account-group revocation was persisted (before recordNewKey).
func (n *Node) RevokeOnlyForTest(device keys.Public) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.flush()
	return n.step(n.acct, func(lk feed.Lookup) error { return n.acct.rep.RevokeDevice(device, lk) })
}

// AgreementKeysForTest returns this device's key-agreement private keys in
// a group (§6.4).
func (n *Node) AgreementKeysForTest(topic [32]byte) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if run := n.groups[topic]; run != nil {
		return run.rep.AgreementKeysForTest()
	}
	return nil
}
