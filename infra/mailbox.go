package infra

import (
	"bufio"
	"context"
	"crypto/hmac"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/net/p2p"
)

// MailboxFile is the mailbox's database in the node's data directory.
const MailboxFile = "mailbox.db"

// Mailbox limits (docs/protocol.md §10.5).
type MailboxLimits struct {
	// Groups is how many spaces (a group's network, §10.5) one peer may
	// register (0: 4096).
	Groups int
	// Bytes is how much one space may hold (0: 256 MiB), and AuthorBytes
	// one device in it (0: 64 MiB); Authors bounds the devices of a space
	// (0: 1024). A put beyond is refused.
	Bytes, AuthorBytes int64
	Authors            int
	// Total bounds what the whole mailbox holds (0: 16 GiB), and Spaces
	// its spaces (0: 100 000): peer IDs cost nothing, so the per-peer
	// bound alone does not bound the disk.
	Total  int64
	Spaces int
	// Keep is how long an entry is kept, and a space not registered or
	// read again (0: 30 days).
	Keep time.Duration
}

func (l MailboxLimits) withDefaults() MailboxLimits {
	if l.Groups == 0 {
		l.Groups = 4096
	}
	if l.Bytes == 0 {
		l.Bytes = 256 << 20
	}
	if l.AuthorBytes == 0 {
		l.AuthorBytes = 64 << 20
	}
	if l.Authors == 0 {
		l.Authors = 1024
	}
	if l.Total == 0 {
		l.Total = 16 << 30
	}
	if l.Spaces == 0 {
		l.Spaces = 100_000
	}
	if l.Keep == 0 {
		l.Keep = 30 * 24 * time.Hour
	}
	return l
}

// Streams served at once, per peer and in all: a peer that opens many and
// reads slowly holds no more than its share.
const (
	maxStreamsPerPeer = 4
	maxStreams        = 256
)

// A space is one network of a group (§3.4, an epoch's): the entries put
// under it, readable by whoever proves its key. A new epoch is a new space,
// which a removed member (who does not hold its key) cannot reach, nor
// fill, nor register first.
const mailboxSchema = `
CREATE TABLE IF NOT EXISTS mb_spaces (
	network BLOB PRIMARY KEY,
	key     BLOB NOT NULL,
	topic   BLOB NOT NULL,
	rep     BLOB NOT NULL,
	owner   TEXT NOT NULL,
	bytes   INTEGER NOT NULL DEFAULT 0,
	touched INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mb_spaces_owner ON mb_spaces (owner);
CREATE TABLE IF NOT EXISTS mb_feeds (
	network BLOB NOT NULL,
	device  BLOB NOT NULL,
	head    INTEGER NOT NULL,
	bytes   INTEGER NOT NULL,
	PRIMARY KEY (network, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mb_entries (
	network BLOB NOT NULL,
	device  BLOB NOT NULL,
	seq     INTEGER NOT NULL,
	id      BLOB NOT NULL,
	raw     BLOB NOT NULL,
	stored  INTEGER NOT NULL,
	PRIMARY KEY (network, device, seq)
);
CREATE INDEX IF NOT EXISTS mb_entries_stored ON mb_entries (stored);
`

// mailbox serves the mailbox protocol from a SQLite database.
type mailbox struct {
	h     peerHost
	db    *sql.DB
	lim   MailboxLimits
	allow []peer.ID // if not empty, the only peers served
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex // one writer; guards the fields below
	total   int64      // bytes held in all spaces
	streams map[peer.ID]int
	open    int

	stored, served, refused int64
}

// peerHost is what the mailbox needs of the libp2p host.
type peerHost interface {
	ID() peer.ID
}

func openMailbox(dir string, h peerHost, lim MailboxLimits, allow []peer.ID, log *slog.Logger) (*mailbox, error) {
	path := filepath.Join(dir, MailboxFile)
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("open the mailbox: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open the mailbox: %w", err)
	}
	// One connection, never held while a peer is written to: queries read
	// what they need into memory first (a peer that reads slowly stalls
	// only its own stream).
	db.SetMaxOpenConns(1)
	m := &mailbox{h: h, db: db, lim: lim.withDefaults(), allow: allow, log: log, now: time.Now, streams: map[peer.ID]int{}}
	_, err = db.Exec(mailboxSchema)
	if err == nil {
		err = db.QueryRow(`SELECT coalesce(sum(bytes), 0) FROM mb_spaces`).Scan(&m.total)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open the mailbox %s: %w", path, err)
	}
	return m, nil
}

func (m *mailbox) close() error { return m.db.Close() }

// take and release bound the streams served at once.
func (m *mailbox) take(p peer.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open >= maxStreams || m.streams[p] >= maxStreamsPerPeer {
		return false
	}
	m.open++
	m.streams[p]++
	return true
}

func (m *mailbox) release(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open--
	if m.streams[p]--; m.streams[p] <= 0 {
		delete(m.streams, p)
	}
}

// serve answers one mailbox request.
func (m *mailbox) serve(s network.Stream) {
	from := s.Conn().RemotePeer()
	if (len(m.allow) > 0 && !slices.Contains(m.allow, from)) || !m.take(from) {
		m.count(&m.refused, 1)
		s.Reset()
		return
	}
	defer m.release(from)
	defer s.Close()
	s.SetDeadline(time.Now().Add(p2p.MailboxTimeout))
	br := bufio.NewReader(s)
	hb, err := p2p.ReadFrame(br, 98)
	var h p2p.MailboxHead
	if err == nil {
		h, err = p2p.DecodeMailboxHead(hb)
	}
	var body []byte
	if err == nil {
		body, err = p2p.ReadFrame(br, p2p.MaxFrame)
	}
	if err != nil {
		m.count(&m.refused, 1)
		s.Reset()
		return
	}
	status, reply, err := m.handle(from, h, body)
	if err != nil {
		m.log.Debug("mailbox: refused", "peer", from, "op", h.Op, "err", err)
		m.count(&m.refused, 1)
	}
	if p2p.WriteFrame(s, []byte{status}) != nil || status != p2p.MailboxOK {
		return
	}
	bw := bufio.NewWriterSize(s, 64<<10)
	if reply != nil {
		p2p.WriteFrame(bw, reply)
	}
	if h.Op == p2p.MailboxGet {
		if err := m.get(bw, h.Network, body); err != nil {
			m.log.Debug("mailbox: get", "peer", from, "err", err)
			s.Reset()
			return
		}
	}
	bw.Flush()
}

func (m *mailbox) count(c *int64, n int64) {
	m.mu.Lock()
	*c += n
	m.mu.Unlock()
}

var (
	errUnknown = errors.New("not a network registered here, or a bad proof")
	errFull    = errors.New("over a quota")
)

func statusOf(err error) byte {
	switch {
	case err == nil:
		return p2p.MailboxOK
	case errors.Is(err, errUnknown):
		return p2p.MailboxUnknown
	case errors.Is(err, errFull):
		return p2p.MailboxFull
	default:
		return p2p.MailboxBad
	}
}

// handle runs one request; for a get, the entries are streamed after.
func (m *mailbox) handle(from peer.ID, h p2p.MailboxHead, body []byte) (status byte, reply []byte, err error) {
	if h.Op == p2p.MailboxRegister {
		err := m.register(from, h, body)
		return statusOf(err), nil, err
	}
	rep, err := m.check(from, h)
	if err != nil {
		return statusOf(err), nil, err
	}
	switch h.Op {
	case p2p.MailboxPut:
		n, err := m.put(h.Network, h.Topic, rep, body)
		if err != nil {
			return statusOf(err), nil, err
		}
		return p2p.MailboxOK, wire.AppendUvarint(nil, uint64(n)), nil
	case p2p.MailboxVector:
		if len(body) != 0 {
			return p2p.MailboxBad, nil, errors.New("a vector request has no body")
		}
		v, err := m.heads(h.Network)
		if err != nil {
			return p2p.MailboxBad, nil, err
		}
		return p2p.MailboxOK, p2p.EncodeVector(v), nil
	case p2p.MailboxGet:
		if _, err := p2p.DecodeVector(body); err != nil {
			return p2p.MailboxBad, nil, err
		}
		return p2p.MailboxOK, nil, nil
	}
	return p2p.MailboxBad, nil, errors.New("unknown op")
}

// register opens a space for a group's network: the requester proves it
// holds the network key it gives, whose ID names the space. A space keeps
// the group (topic and replication key) it was opened for: registering it
// again with another is refused. Only a holder of the network key can open
// a space, or reach one: a removed member, who holds no key of the epochs
// after her removal, can open spaces of her own, never the group's.
func (m *mailbox) register(from peer.ID, h p2p.MailboxHead, body []byte) error {
	if len(body) != 64 {
		return fmt.Errorf("register: %d bytes, want 64", len(body))
	}
	rep, key := [32]byte(body[:32]), [32]byte(body[32:])
	if group.NetworkID(key) != h.Network {
		return fmt.Errorf("register: %w", errUnknown)
	}
	if want := p2p.MailboxProof(key, from, m.h.ID()); !hmac.Equal(want[:], h.Proof[:]) {
		return fmt.Errorf("register: %w", errUnknown)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := m.now().UnixMilli()
	var topic, had []byte
	switch err := tx.QueryRow(`SELECT topic, rep FROM mb_spaces WHERE network = ?`, h.Network[:]).Scan(&topic, &had); err {
	case sql.ErrNoRows:
		var mine, all int
		if err := tx.QueryRow(`SELECT count(*) FROM mb_spaces WHERE owner = ?`, from.String()).Scan(&mine); err != nil {
			return err
		}
		if err := tx.QueryRow(`SELECT count(*) FROM mb_spaces`).Scan(&all); err != nil {
			return err
		}
		if mine >= m.lim.Groups || all >= m.lim.Spaces {
			return fmt.Errorf("register: %d spaces of this peer, %d in all: %w", mine, all, errFull)
		}
		if _, err := tx.Exec(`INSERT INTO mb_spaces (network, key, topic, rep, owner, touched) VALUES (?, ?, ?, ?, ?, ?)`,
			h.Network[:], key[:], h.Topic[:], rep[:], from.String(), now); err != nil {
			return err
		}
	case nil:
		if [32]byte(topic) != h.Topic || !hmac.Equal(had, rep[:]) {
			return fmt.Errorf("register: the network is registered for another group: %w", errUnknown)
		}
		if _, err := tx.Exec(`UPDATE mb_spaces SET touched = ? WHERE network = ?`, now, h.Network[:]); err != nil {
			return err
		}
	default:
		return err
	}
	return tx.Commit()
}

// check verifies the requester's proof for a registered network and
// returns its group's replication key.
func (m *mailbox) check(from peer.ID, h p2p.MailboxHead) (rep [32]byte, err error) {
	var topic, key, r []byte
	err = m.db.QueryRow(`SELECT topic, key, rep FROM mb_spaces WHERE network = ?`, h.Network[:]).Scan(&topic, &key, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return rep, errUnknown
	}
	if err != nil {
		return rep, err
	}
	if want := p2p.MailboxProof([32]byte(key), from, m.h.ID()); [32]byte(topic) != h.Topic || !hmac.Equal(want[:], h.Proof[:]) {
		return rep, errUnknown
	}
	return [32]byte(r), nil
}

// put stores a batch in a space. Each entry must be well formed, of the
// space's group, MAC'd under its replication key and, if signed, signed by
// its author; an unsigned entry is kept only if a signed entry of the same
// author in the batch chains back to it (§4.5: what an honest device
// sends). An entry at a place already taken by another is refused (the
// first one stays); one already held is skipped. Quotas: per space, per
// device in it, devices per space, and the whole mailbox.
func (m *mailbox) put(network, topic, rep [32]byte, body []byte) (int, error) {
	raws, err := p2p.DecodeBatch(body)
	if err != nil {
		return 0, err
	}
	type at struct {
		d   keys.Public
		seq uint64
	}
	es := make([]*feed.Entry, 0, len(raws))
	byPos := map[at]*feed.Entry{}
	for _, raw := range raws {
		e, err := feed.Decode(raw)
		if err != nil {
			return 0, err
		}
		if err := e.Verify(&topic, &rep); err != nil {
			return 0, err
		}
		if byPos[at{e.Author, e.Seq}] != nil {
			return 0, errors.New("an entry twice in one put")
		}
		byPos[at{e.Author, e.Seq}] = e
		es = append(es, e)
	}
	// Authenticate unsigned entries by their signed successors' chains.
	ok := map[*feed.Entry]bool{}
	for _, e := range es {
		if !e.Signed || ok[e] {
			continue
		}
		ok[e] = true
		for c := e; c.Seq > 1; {
			p := byPos[at{c.Author, c.Seq - 1}]
			if p == nil || p.ID != c.Prev || ok[p] {
				break
			}
			ok[p], c = true, p
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var size int64
	if err := tx.QueryRow(`SELECT bytes FROM mb_spaces WHERE network = ?`, network[:]).Scan(&size); err != nil {
		return 0, err
	}
	var authors int
	if err := tx.QueryRow(`SELECT count(*) FROM mb_feeds WHERE network = ?`, network[:]).Scan(&authors); err != nil {
		return 0, err
	}
	now := m.now().UnixMilli()
	added, n := int64(0), 0
	type feedState struct{ head, bytes int64 }
	feeds := map[keys.Public]*feedState{}
	for _, e := range es {
		if !ok[e] {
			continue
		}
		fs := feeds[e.Author]
		if fs == nil {
			fs = &feedState{}
			switch err := tx.QueryRow(`SELECT head, bytes FROM mb_feeds WHERE network = ? AND device = ?`, network[:], e.Author[:]).Scan(&fs.head, &fs.bytes); err {
			case nil:
			case sql.ErrNoRows:
				if authors++; authors > m.lim.Authors {
					return 0, fmt.Errorf("%d devices in the space: %w", authors, errFull)
				}
				if _, err := tx.Exec(`INSERT INTO mb_feeds (network, device, head, bytes) VALUES (?, ?, 0, 0)`, network[:], e.Author[:]); err != nil {
					return 0, err
				}
			default:
				return 0, err
			}
			feeds[e.Author] = fs
		}
		var id []byte
		switch err := tx.QueryRow(`SELECT id FROM mb_entries WHERE network = ? AND device = ? AND seq = ?`, network[:], e.Author[:], e.Seq).Scan(&id); err {
		case nil:
			if [32]byte(id) != e.ID {
				return 0, fmt.Errorf("entry %d of %x: another entry is held at its place", e.Seq, e.Author[:4])
			}
			continue
		case sql.ErrNoRows:
		default:
			return 0, err
		}
		sz := int64(len(e.Encoded))
		size, fs.bytes, added = size+sz, fs.bytes+sz, added+sz
		if size > m.lim.Bytes || fs.bytes > m.lim.AuthorBytes || m.total+added > m.lim.Total {
			return 0, errFull
		}
		if _, err := tx.Exec(`INSERT INTO mb_entries (network, device, seq, id, raw, stored) VALUES (?, ?, ?, ?, ?, ?)`,
			network[:], e.Author[:], e.Seq, e.ID[:], e.Encoded, now); err != nil {
			return 0, err
		}
		n++
	}
	// Each feed's head: how far the space holds it without a gap (from
	// seq 1). Pushes may come out of order (one refused, the next taken):
	// the device's next round hands over what is missing below.
	for d, fs := range feeds {
		for {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM mb_entries WHERE network = ? AND device = ? AND seq = ?`, network[:], d[:], fs.head+1).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return 0, err
			}
			fs.head++
		}
		if _, err := tx.Exec(`UPDATE mb_feeds SET head = ?, bytes = ? WHERE network = ? AND device = ?`, fs.head, fs.bytes, network[:], d[:]); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(`UPDATE mb_spaces SET bytes = ?, touched = ? WHERE network = ?`, size, now, network[:]); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	m.total += added
	m.stored += int64(n)
	return n, nil
}

// heads is how far a space holds each feed without a gap, or held it (an
// expired entry is not asked for again): what it needs no more of.
func (m *mailbox) heads(network [32]byte) (map[keys.Public]uint64, error) {
	rows, err := m.db.Query(`SELECT device, head FROM mb_feeds WHERE network = ? LIMIT ?`, network[:], p2p.MaxVectorDevices)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v := map[keys.Public]uint64{}
	for rows.Next() {
		var d []byte
		var s uint64
		if err := rows.Scan(&d, &s); err != nil {
			return nil, err
		}
		v[keys.Public(d)] = s
	}
	return v, rows.Err()
}

// EntriesAfter reads a feed of a space (topic is the network ID), for
// the merger: a query read whole, so that the connection is free while
// the entries are written to the peer.
func (m *mailbox) EntriesAfter(network [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error) {
	rows, err := m.db.Query(`SELECT raw FROM mb_entries WHERE network = ? AND device = ? AND seq > ? ORDER BY seq LIMIT ?`,
		network[:], device[:], after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, rows.Err()
}

// getChunk is how many entries of one feed a get reads at a time: what a
// get holds in memory is that many per device of the space.
const getChunk = 8

// get streams a space's entries beyond the requester's vector, the feeds
// merged by Lamport clock (what an entry depends on mostly comes first),
// in batches of up to 256.
func (m *mailbox) get(w *bufio.Writer, network [32]byte, body []byte) error {
	vec, err := p2p.DecodeVector(body)
	if err != nil {
		return err
	}
	m.mu.Lock()
	_, err = m.db.Exec(`UPDATE mb_spaces SET touched = ? WHERE network = ?`, m.now().UnixMilli(), network[:])
	m.mu.Unlock()
	if err != nil {
		return err
	}
	heads, err := m.feedsOf(network)
	if err != nil {
		return err
	}
	mg := p2p.NewMerger(m, network, getChunk)
	for _, d := range heads {
		mg.Add(d, vec[d])
	}
	n := 0
	for {
		raws, err := mg.Next(256)
		if err != nil {
			return err
		}
		if len(raws) == 0 {
			break
		}
		if err := p2p.WriteFrame(w, p2p.EncodeBatch(raws)); err != nil {
			return err
		}
		n += len(raws)
	}
	m.count(&m.served, int64(n))
	return p2p.WriteFrame(w, nil)
}

// feedsOf lists the devices with entries in a space.
func (m *mailbox) feedsOf(network [32]byte) ([]keys.Public, error) {
	rows, err := m.db.Query(`SELECT device FROM mb_feeds WHERE network = ?`, network[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keys.Public
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, keys.Public(d))
	}
	return out, rows.Err()
}

// expire deletes entries older than Keep, and spaces neither registered
// nor read for as long, with their feeds.
func (m *mailbox) expire() error {
	cut := m.now().Add(-m.lim.Keep).UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM mb_entries WHERE stored < ?`,
		`DELETE FROM mb_entries WHERE network IN (SELECT network FROM mb_spaces WHERE touched < ?)`,
		`DELETE FROM mb_feeds WHERE network IN (SELECT network FROM mb_spaces WHERE touched < ?)`,
		`DELETE FROM mb_spaces WHERE touched < ?`,
	} {
		if _, err := tx.Exec(q, cut); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`UPDATE mb_feeds SET bytes = (SELECT coalesce(sum(length(raw)), 0) FROM mb_entries e WHERE e.network = mb_feeds.network AND e.device = mb_feeds.device)`,
		`UPDATE mb_spaces SET bytes = (SELECT coalesce(sum(bytes), 0) FROM mb_feeds f WHERE f.network = mb_spaces.network)`,
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	var total int64
	if err := tx.QueryRow(`SELECT coalesce(sum(bytes), 0) FROM mb_spaces`).Scan(&total); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	m.total = total
	return nil
}

// expireLoop runs expire every hour.
func (m *mailbox) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := m.expire(); err != nil {
			m.log.Error("mailbox: expire", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MailboxStats counts what the mailbox did.
type MailboxStats struct {
	Stored, Served, Refused int64
}
