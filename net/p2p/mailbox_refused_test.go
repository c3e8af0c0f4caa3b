package p2p_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/infra"
	"github.com/berty-go/berty/net/p2p"
)

// stubSource is a node's store reduced to what the mailbox client reads:
// one group, some feeds.
type stubSource struct {
	feeds map[keys.Public][][]byte
}

func (s *stubSource) Vector([32]byte) (map[keys.Public]uint64, error) {
	v := map[keys.Public]uint64{}
	for d, f := range s.feeds {
		v[d] = uint64(len(f))
	}
	return v, nil
}
func (s *stubSource) EntriesAfter(_ [32]byte, d keys.Public, after uint64, limit int) ([][]byte, error) {
	f := s.feeds[d]
	if after >= uint64(len(f)) {
		return nil, nil
	}
	return f[after:min(uint64(len(f)), after+uint64(limit))], nil
}
func (s *stubSource) Peer([32]byte, keys.Public) (replica.PeerStatus, uint64, bool, error) {
	return 0, 0, false, errors.New("no sync here")
}
func (s *stubSource) SignSync([32]byte, []byte) (keys.Public, []byte, error) {
	return keys.Public{}, nil, errors.New("no sync here")
}
func (s *stubSource) DeviceKeyIn([32]byte) (keys.Public, error) {
	return keys.Public{}, errors.New("no sync here")
}
func (s *stubSource) Announce([32]byte) ([]byte, error) { return nil, nil }

// signedFeed is n signed entries of a new device, each with a payload of
// size bytes.
func signedFeed(t *testing.T, topic, rep [32]byte, n, size int) (keys.Public, [][]byte) {
	t.Helper()
	dev, err := keys.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var prev feed.ID
	for i := 1; i <= n; i++ {
		kind := feed.KindMessage
		if i == 1 {
			kind = feed.KindMetadata
		}
		e, err := feed.Sign(&feed.Unsigned{Topic: topic, Seq: uint64(i), Prev: prev, Lamport: uint64(i), Kind: kind, Payload: []byte(strings.Repeat("p", size))}, &rep, dev)
		if err != nil {
			t.Fatal(err)
		}
		prev = e.ID
		out = append(out, e.Encoded)
	}
	return dev.Public(), out
}

// logSignal is a slog handler that signals when a message is logged.
type logSignal struct {
	msg string
	ch  chan struct{}
}

func (l *logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		select {
		case l.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (l *logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSignal) WithGroup(string) slog.Handler      { return l }

// TestMailboxRefusedPutDoesNotStopFetch: reconcileTopic puts before it gets, and
// returns at the first put the mailbox refuses — so a device that holds
// anything the mailbox will not take never fetches what the mailbox holds
// for it. Here the group's quota is full (an honest busy group, or one
// filled by a holder of the replication key): bob comes back with one
// entry of his own the mailbox lacks, and never gets alice's messages,
// round after round. (The same happens when the mailbox holds another
// entry at a place bob puts — an equivocating member's feed — or on any
// transient put error.)
func TestMailboxRefusedPutDoesNotStopFetch(t *testing.T) {
	srv, err := infra.Start(infra.Config{Dir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true, NoRelay: true,
		Mailbox: infra.MailboxLimits{Bytes: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var topic, rep [32]byte
	rand.Read(topic[:])
	rand.Read(rep[:])
	nets := [][32]byte{rep} // epoch 0: the network key is the replication key

	start := func(src p2p.Source, logger *slog.Logger, observe func(p2p.Event)) *p2p.Host {
		h, err := p2p.New(p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Mailboxes: srv.Addrs(), SyncInterval: time.Hour, Logger: logger, Observe: observe})
		if err != nil {
			t.Fatal(err)
		}
		h.Join(topic, rep, nets)
		if err := h.Serve(func([32]byte, [][]byte) (p2p.Delivered, error) { return p2p.Delivered{}, nil }, src); err != nil {
			t.Fatal(err)
		}
		return h
	}

	// Alice's 3 messages (about 3.3 kB) reach the mailbox; alice leaves.
	da, fa := signedFeed(t, topic, rep, 3, 1000)
	stored := make(chan struct{}, 16)
	alice := start(&stubSource{feeds: map[keys.Public][][]byte{da: fa}}, nil, func(e p2p.Event) {
		if e.Kind == p2p.MailboxStored {
			select {
			case stored <- struct{}{}:
			default:
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for srv.MailboxStats().Stored < 3 {
		select {
		case <-stored:
		case <-ctx.Done():
			t.Fatal("alice's entries never reached the mailbox")
		}
	}
	alice.Close()

	// Bob comes back holding alice's nothing and one entry of his own that
	// does not fit in the group's quota any more.
	db, fb := signedFeed(t, topic, rep, 1, 2000)
	var fetched atomic.Bool
	roundEnded := &logSignal{msg: "mailbox: refused some entries; will try at the next round", ch: make(chan struct{}, 1)}
	got := make(chan struct{}, 1)
	bob := start(&stubSource{feeds: map[keys.Public][][]byte{db: fb}}, slog.New(roundEnded), func(e p2p.Event) {
		if e.Kind == p2p.MailboxFetched {
			fetched.Store(true)
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	defer bob.Close()
	select {
	case <-got:
	case <-roundEnded.ch:
		if !fetched.Load() {
			t.Errorf("bob's round with the mailbox ended on his refused put without fetching alice's %d stored entries", len(fa))
		}
	case <-ctx.Done():
		t.Fatal("no mailbox round ended")
	}
}
