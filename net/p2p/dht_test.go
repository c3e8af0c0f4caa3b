package p2p

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/multiformats/go-multihash"
)

// TestRendezvousRotates: the value changes every period, depends on the
// replication key, and around a boundary devices announce the next value and
// look up the previous one, so slightly different clocks still meet.
func TestRendezvousRotates(t *testing.T) {
	key, other := [32]byte{1}, [32]byte{2}
	day := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if !Rendezvous(key, day).Equals(Rendezvous(key, day.Add(time.Hour))) {
		t.Error("the value changed within a period")
	}
	if Rendezvous(key, day).Equals(Rendezvous(key, day.Add(RendezvousPeriod))) {
		t.Error("the value did not change across a period")
	}
	if Rendezvous(key, day).Equals(Rendezvous(other, day)) {
		t.Error("two groups share a rendezvous")
	}
	midnight := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	before, after := midnight.Add(-10*time.Minute), midnight.Add(10*time.Minute)
	ann, _ := rendezvousKeys(key, before)
	_, look := rendezvousKeys(key, after)
	if len(ann) != 2 || !ann[1].Equals(Rendezvous(key, after)) {
		t.Errorf("10 minutes before the boundary, announce %v: want the next value too", ann)
	}
	if len(look) != 2 || !look[1].Equals(Rendezvous(key, before)) {
		t.Errorf("10 minutes after the boundary, look up %v: want the previous value too", look)
	}
	ann, look = rendezvousKeys(key, day)
	if len(ann) != 1 || len(look) != 1 {
		t.Errorf("mid-period: announce %d values, look up %d, want 1 and 1", len(ann), len(look))
	}
	// §10.3 by hand: the raw-CID multihash of HMAC-SHA256(replication,
	// "berty/v1/rendezvous" || 0x00 || uint64be(day number)).
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("berty/v1/rendezvous\x00"))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(day.Unix()/86400)))
	dm, err := multihash.Decode(Rendezvous(key, day).Hash())
	if err != nil || string(dm.Digest) != string(m.Sum(nil)) {
		t.Errorf("rendezvous value is not the §10.3 HMAC (%v)", err)
	}
}

// TestRendezvousFindsGroupPeer: on a DHT of three hosts, alice announces
// her group's rendezvous; one lookup round of carol's finds her there. (In
// so small a network the DHT's own refresh connects everyone anyway, so this
// checks the rendezvous records themselves.)
func TestRendezvousFindsGroupPeer(t *testing.T) {
	boot, err := New(Config{DHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	topicID, rep := [32]byte{7}, [32]byte{9}
	hosts := map[string]*Host{}
	for _, name := range []string{"alice", "carol"} {
		// A long period: only the rounds the test runs matter.
		h, err := New(Config{DHT: true, Bootstrap: boot.Addrs()[:1], RendezvousEvery: time.Hour, Seed: [32]byte{byte(len(hosts) + 1)}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		h.Join(topicID, rep, [][32]byte{rep})
		hosts[name] = h
	}
	alice, carol := hosts["alice"], hosts["carol"]
	alice.meetOnce(alice.topics[topicID].nets[0]) // announce
	if !carol.meetOnce(carol.topics[topicID].nets[0]) {
		t.Fatal("carol's lookup of the group's rendezvous found nobody")
	}
	other := [32]byte{10}
	ann, _ := rendezvousKeys(other, time.Now())
	for p := range carol.dht.FindProvidersAsync(t.Context(), ann[0], 5) {
		t.Errorf("the rendezvous of another group lists %s", p.ID)
	}
}
