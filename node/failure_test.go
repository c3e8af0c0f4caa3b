package node_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
)

var errDiskFull = errors.New("database or disk is full")

// flakyStore fails every Commit while full is set, as a full disk does.
type flakyStore struct {
	store.Store
	full bool
}

func (f *flakyStore) Commit(b *store.Batch) error {
	if f.full {
		return errDiskFull
	}
	return f.Store.Commit(b)
}

// recorder keeps what a transport is asked to publish.
type recorder struct{ published [][]byte }

func (r *recorder) Join(_, _ [32]byte, _ [][32]byte) {}
func (r *recorder) Publish(_ [32]byte, raws [][]byte) {
	r.published = append(r.published, raws...)
}

func pair(t *testing.T, sa, sb store.Store, ta, tb node.Transport, cfg func(*node.Config)) (a, b *node.Node, topic [32]byte) {
	t.Helper()
	open := func(st store.Store, tr node.Transport) *node.Node {
		c := node.Config{Store: st, Transport: tr}
		if cfg != nil {
			cfg(&c)
		}
		n, err := node.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b = open(sa, ta), open(sb, tb)
	topic, err := a.AddContact(b.AccountKey(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddContact(a.AccountKey(), "a"); err != nil {
		t.Fatal(err)
	}
	return a, b, topic
}

// TestCommitFailureLosesNothing: while the disk is full, sending and
// receiving fail with the storage error and change nothing — nothing is
// published, no seq or key is used — and once there is room again the node
// carries on as if the failed calls had never happened.
func TestCommitFailureLosesNothing(t *testing.T) {
	fa, fb := &flakyStore{Store: mem.New()}, &flakyStore{Store: mem.New()}
	ra, rb := &recorder{}, &recorder{}
	a, b, topic := pair(t, fa, fb, ra, rb, nil)
	deliver := func(to *node.Node, from *recorder) error {
		_, err := to.Receive(topic, from.published)
		return err
	}
	if err := deliver(b, ra); err != nil {
		t.Fatal(err)
	}
	if err := deliver(a, rb); err != nil {
		t.Fatal(err)
	}
	m1, err := a.Send(topic, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}

	fa.full = true
	published := len(ra.published)
	if _, err := a.Send(topic, []byte("lost to a full disk")); !errors.Is(err, errDiskFull) {
		t.Fatalf("Send on a full disk: %v, want the disk error", err)
	}
	if len(ra.published) != published {
		t.Fatal("an entry was published although it could not be stored")
	}
	fa.full = false
	m3, err := a.Send(topic, []byte("three"))
	if err != nil {
		t.Fatal(err)
	}
	if m3.Seq != m1.Seq+1 {
		t.Fatalf("seq after a failed commit: %d, want %d (no gap, no reuse)", m3.Seq, m1.Seq+1)
	}

	// The receiver's disk fills up too: Receive fails and keeps nothing;
	// the same entries delivered again (as sync does) are then taken.
	fb.full = true
	if err := deliver(b, ra); !errors.Is(err, errDiskFull) {
		t.Fatalf("Receive on a full disk: %v, want the disk error", err)
	}
	fb.full = false
	if err := deliver(b, ra); err != nil {
		t.Fatal(err)
	}
	ms, err := b.Messages(topic, store.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, string(m.Body))
	}
	if !slices.Equal(got, []string{"one", "three"}) {
		t.Fatalf("b reads %q, want one and three", got)
	}
}

// TestRotationPolicy: a device starts a new chain every RotateEvery messages
// and when its chain is older than RotateAfter (on Tick), and its contact
// reads everything across the rotations.
func TestRotationPolicy(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var rotations []uint64
	hub := memnet.New(3, 0.2, 4)
	var a, b *node.Node
	ea := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := a.Receive(topic, raws); return err })
	eb := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := b.Receive(topic, raws); return err })
	cfg := func(c *node.Config) {
		c.Now = func() time.Time { return now }
		c.RotateEvery = 5
		c.RotateAfter = time.Hour
	}
	var topic [32]byte
	undec := 0
	a, b, topic = pair(t, mem.New(), mem.New(), ea, eb, func(c *node.Config) {
		cfg(c)
		c.Events = func(tp [32]byte, ev replica.Event) {
			if tp == topic && ev.Kind == replica.EventRotated && ev.Device == a.DeviceKey() {
				rotations = append(rotations, ev.Seq)
			}
			if ev.Kind == replica.EventUndecryptable {
				undec++
			}
		}
	})
	send := func(n int) {
		t.Helper()
		for range n {
			if _, err := a.Send(topic, []byte("m")); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Before a knows b's device: no rotation, whatever the count, or b
	// could never read these.
	send(7)
	if len(rotations) != 0 {
		t.Fatalf("a rotated to %v before knowing its contact's device", rotations)
	}
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	// Now the deferred rotation happens (epoch 2), then every 5 messages.
	send(12)
	now = now.Add(2 * time.Hour)
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(topic, []byte("after the clock")); err != nil {
		t.Fatal(err)
	}
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	// 2: deferred, once b is known; 3 and 4: after 5 messages of epochs 2
	// and 3; 5: epoch 4's chain is two hours old.
	if !slices.Equal(rotations, []uint64{2, 3, 4, 5}) {
		t.Errorf("a rotated to epochs %v, want [2 3 4 5]", rotations)
	}
	ms, err := b.Messages(topic, store.Cursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 20 || string(ms[19].Body) != "after the clock" {
		var got []string
		for _, m := range ms {
			got = append(got, string(m.Body))
		}
		t.Errorf("b reads %d messages across rotations (%d undecryptable), want 20", len(got), undec)
	}
}

// TestReceiveCountsReleased: Appended counts every entry a batch makes the
// group's feeds grow by, including entries released from the hold — what
// the network layer relies on to tell other peers about entries it relays.
func TestReceiveCountsReleased(t *testing.T) {
	ra, rb := &recorder{}, &recorder{}
	a, b, topic := pair(t, mem.New(), mem.New(), ra, rb, nil)
	if _, err := b.Receive(topic, ra.published); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Receive(topic, rb.published); err != nil {
		t.Fatal(err)
	}
	// a answered b's announce with its chain key: b needs that entry too.
	if _, err := b.Receive(topic, ra.published); err != nil {
		t.Fatal(err)
	}
	ra.published = nil
	var bodies [][]byte
	for i := range 20 {
		bodies = append(bodies, []byte{byte(i)})
	}
	if _, err := a.SendBatch(topic, bodies); err != nil {
		t.Fatal(err)
	}
	raws := slices.Clone(ra.published)
	slices.Reverse(raws) // the signed tail first: everything else is held, then released
	total := 0
	for _, raw := range raws {
		st, err := b.Receive(topic, [][]byte{raw})
		if err != nil {
			t.Fatal(err)
		}
		total += st.Appended
	}
	if total != len(raws) {
		t.Fatalf("Appended adds up to %d for %d new entries", total, len(raws))
	}
}

// TestCopiesCostNoVerification: a peer that replays entries this node has —
// a thousand copies in one batch, or copies whose signature it spoiled — gets
// them counted as duplicates, without a signature check each (a spoiled
// signature on a known entry would otherwise be "refused" after checking
// it), and a batch that repeats a new entry stores it once.
func TestCopiesCostNoVerification(t *testing.T) {
	ra, rb := &recorder{}, &recorder{}
	a, b, topic := pair(t, mem.New(), mem.New(), ra, rb, nil)
	for _, step := range []struct {
		to   *node.Node
		from *recorder
	}{{b, ra}, {a, rb}, {b, ra}} {
		if _, err := step.to.Receive(topic, step.from.published); err != nil {
			t.Fatal(err)
		}
	}
	ra.published = nil
	if _, err := a.SendBatch(topic, [][]byte{[]byte("once")}); err != nil {
		t.Fatal(err)
	}
	raw := ra.published[len(ra.published)-1] // signed: the batch's last entry
	fresh := make([][]byte, 1000)
	for i := range fresh {
		fresh[i] = raw
	}
	st, err := b.Receive(topic, fresh)
	if err != nil || st.Appended != 1 || st.Duplicates != 999 || st.Refused != 0 {
		t.Fatalf("a new entry 1 000 times: %+v, %v; want 1 appended, 999 duplicates", st, err)
	}
	// A new entry behind a copy of it with a spoiled signature (the ID
	// does not cover the signature): the copy is refused, the entry stored.
	ra.published = nil
	if _, err := a.SendBatch(topic, [][]byte{[]byte("twice")}); err != nil {
		t.Fatal(err)
	}
	next := ra.published[len(ra.published)-1]
	bad := slices.Clone(next)
	bad[len(bad)-1] ^= 1
	st, err = b.Receive(topic, [][]byte{bad, next})
	if err != nil || st.Appended != 1 || st.Refused != 1 || st.Duplicates != 0 {
		t.Fatalf("a spoiled copy, then the entry: %+v, %v; want 1 appended, 1 refused", st, err)
	}
	spoiled := slices.Clone(raw)
	spoiled[len(spoiled)-1] ^= 1 // in the signature
	st, err = b.Receive(topic, [][]byte{spoiled, raw, spoiled})
	if err != nil || st.Duplicates != 3 || st.Refused != 0 || st.Appended != 0 {
		t.Fatalf("known entries, signatures spoiled: %+v, %v; want 3 duplicates", st, err)
	}
	// An entry further back than the tracker remembers (128 per feed) is
	// read from storage, still without a signature check.
	for i := range 150 {
		if _, err := a.SendBatch(topic, [][]byte{{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Receive(topic, ra.published); err != nil {
		t.Fatal(err)
	}
	old := slices.Clone(raw) // now 150 entries back
	old[len(old)-1] ^= 1
	st, err = b.Receive(topic, [][]byte{old})
	if err != nil || st.Duplicates != 1 || st.Refused != 0 {
		t.Fatalf("an old known entry, signature spoiled: %+v, %v; want a duplicate", st, err)
	}
}
