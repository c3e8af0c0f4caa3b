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
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	_ "modernc.org/sqlite" // the "sqlite" driver

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
	// Groups is how many groups one peer may register (0: 4096).
	Groups int
	// Bytes is how much one group may hold (0: 256 MiB); a put beyond it is
	// refused.
	Bytes int64
	// Keep is how long an entry is kept, and a group not registered or
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
	if l.Keep == 0 {
		l.Keep = 30 * 24 * time.Hour
	}
	return l
}

// maxNetworks bounds the networks (epochs) a group keeps at a mailbox: the
// oldest go first.
const maxNetworks = 16

const mailboxSchema = `
CREATE TABLE IF NOT EXISTS mb_groups (
	topic   BLOB PRIMARY KEY,
	rep     BLOB NOT NULL,
	owner   TEXT NOT NULL,
	bytes   INTEGER NOT NULL DEFAULT 0,
	touched INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mb_groups_owner ON mb_groups (owner);
CREATE TABLE IF NOT EXISTS mb_networks (
	network BLOB PRIMARY KEY,
	topic   BLOB NOT NULL,
	key     BLOB NOT NULL,
	added   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mb_networks_topic ON mb_networks (topic, added);
CREATE TABLE IF NOT EXISTS mb_heads (
	topic  BLOB NOT NULL,
	device BLOB NOT NULL,
	seq    INTEGER NOT NULL,
	PRIMARY KEY (topic, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mb_entries (
	topic  BLOB NOT NULL,
	device BLOB NOT NULL,
	seq    INTEGER NOT NULL,
	id     BLOB NOT NULL,
	raw    BLOB NOT NULL,
	stored INTEGER NOT NULL,
	PRIMARY KEY (topic, device, seq)
);
CREATE INDEX IF NOT EXISTS mb_entries_order ON mb_entries (topic, stored);
`

// mailbox serves the mailbox protocol from a SQLite database.
type mailbox struct {
	h   peerHost
	db  *sql.DB
	lim MailboxLimits
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex // one writer

	stored, served, refused int64 // guarded by mu
}

// peerHost is what the mailbox needs of the libp2p host.
type peerHost interface {
	ID() peer.ID
}

func openMailbox(dir string, h peerHost, lim MailboxLimits, log *slog.Logger) (*mailbox, error) {
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
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open the mailbox: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(mailboxSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the mailbox %s: %w", path, err)
	}
	return &mailbox{h: h, db: db, lim: lim.withDefaults(), log: log, now: time.Now}, nil
}

func (m *mailbox) close() error { return m.db.Close() }

// serve answers one mailbox request.
func (m *mailbox) serve(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(p2p.MailboxTimeout))
	from := s.Conn().RemotePeer()
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
		if err := m.get(bw, h.Topic, body); err != nil {
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
	errFull    = errors.New("over the group's quota")
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
		n, err := m.put(h.Topic, rep, body)
		if err != nil {
			return statusOf(err), nil, err
		}
		return p2p.MailboxOK, wire.AppendUvarint(nil, uint64(n)), nil
	case p2p.MailboxVector:
		if len(body) != 0 {
			return p2p.MailboxBad, nil, errors.New("a vector request has no body")
		}
		v, err := m.heads(h.Topic)
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

// register records a group's network: the requester proves it holds the
// network key it gives, and a group registered before keeps its
// replication key (a stranger cannot swap it).
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
	var had []byte
	switch err := tx.QueryRow(`SELECT rep FROM mb_groups WHERE topic = ?`, h.Topic[:]).Scan(&had); err {
	case sql.ErrNoRows:
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM mb_groups WHERE owner = ?`, from.String()).Scan(&n); err != nil {
			return err
		}
		if n >= m.lim.Groups {
			return fmt.Errorf("register: %d groups: %w", n, errFull)
		}
		if _, err := tx.Exec(`INSERT INTO mb_groups (topic, rep, owner, touched) VALUES (?, ?, ?, ?)`, h.Topic[:], rep[:], from.String(), now); err != nil {
			return err
		}
	case nil:
		if !hmac.Equal(had, rep[:]) {
			return fmt.Errorf("register: another replication key for a group registered here: %w", errUnknown)
		}
		if _, err := tx.Exec(`UPDATE mb_groups SET touched = ? WHERE topic = ?`, now, h.Topic[:]); err != nil {
			return err
		}
	default:
		return err
	}
	var topic []byte
	switch err := tx.QueryRow(`SELECT topic FROM mb_networks WHERE network = ?`, h.Network[:]).Scan(&topic); err {
	case sql.ErrNoRows:
		if _, err := tx.Exec(`INSERT INTO mb_networks (network, topic, key, added) VALUES (?, ?, ?, ?)`, h.Network[:], h.Topic[:], key[:], now); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM mb_networks WHERE topic = ? AND network NOT IN
			(SELECT network FROM mb_networks WHERE topic = ? ORDER BY added DESC LIMIT ?)`, h.Topic[:], h.Topic[:], maxNetworks); err != nil {
			return err
		}
	case nil:
		if [32]byte(topic) != h.Topic {
			return fmt.Errorf("register: a network of another group: %w", errUnknown)
		}
	default:
		return err
	}
	return tx.Commit()
}

// check verifies the requester's proof for a registered network of the
// group and returns the group's replication key.
func (m *mailbox) check(from peer.ID, h p2p.MailboxHead) (rep [32]byte, err error) {
	var topic, key, r []byte
	err = m.db.QueryRow(`SELECT n.topic, n.key, g.rep FROM mb_networks n JOIN mb_groups g ON g.topic = n.topic WHERE n.network = ?`, h.Network[:]).Scan(&topic, &key, &r)
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

// put stores a batch. Each entry must be well formed, of this group, MAC'd
// under its replication key and, if signed, signed by its author; an
// unsigned entry is kept only if a signed entry of the same author in the
// batch chains back to it (§4.5: what an honest device sends). An entry at
// a place already taken by another is refused (the first one stays); one
// already held is skipped.
func (m *mailbox) put(topic, rep [32]byte, body []byte) (int, error) {
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
	if err := tx.QueryRow(`SELECT bytes FROM mb_groups WHERE topic = ?`, topic[:]).Scan(&size); err != nil {
		return 0, err
	}
	now := m.now().UnixMilli()
	n := 0
	for _, e := range es {
		if !ok[e] {
			continue
		}
		var id []byte
		switch err := tx.QueryRow(`SELECT id FROM mb_entries WHERE topic = ? AND device = ? AND seq = ?`, topic[:], e.Author[:], e.Seq).Scan(&id); err {
		case nil:
			if [32]byte(id) != e.ID {
				return 0, fmt.Errorf("entry %d of %x: another entry is held at its place", e.Seq, e.Author[:4])
			}
			continue
		case sql.ErrNoRows:
		default:
			return 0, err
		}
		if size += int64(len(e.Encoded)); size > m.lim.Bytes {
			return 0, errFull
		}
		if _, err := tx.Exec(`INSERT INTO mb_entries (topic, device, seq, id, raw, stored) VALUES (?, ?, ?, ?, ?, ?)`,
			topic[:], e.Author[:], e.Seq, e.ID[:], e.Encoded, now); err != nil {
			return 0, err
		}
		n++
	}
	// Each feed's head: how far the mailbox holds it without a gap (from
	// seq 1). Pushes may come out of order (one refused, the next taken):
	// the device's next round hands over what is missing below.
	for _, e := range es {
		if !ok[e] {
			continue
		}
		var head uint64
		if err := tx.QueryRow(`SELECT seq FROM mb_heads WHERE topic = ? AND device = ?`, topic[:], e.Author[:]).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		if e.Seq != head+1 {
			continue
		}
		for {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM mb_entries WHERE topic = ? AND device = ? AND seq = ?`, topic[:], e.Author[:], head+1).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return 0, err
			}
			head++
		}
		if _, err := tx.Exec(`INSERT INTO mb_heads (topic, device, seq) VALUES (?, ?, ?)
			ON CONFLICT (topic, device) DO UPDATE SET seq = excluded.seq`, topic[:], e.Author[:], head); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(`UPDATE mb_groups SET bytes = ?, touched = ? WHERE topic = ?`, size, now, topic[:]); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	m.stored += int64(n)
	return n, nil
}

// heads is how far the mailbox holds each feed of a group without a gap,
// or held it (an expired entry is not asked for again): what it needs no
// more of.
func (m *mailbox) heads(topic [32]byte) (map[keys.Public]uint64, error) {
	rows, err := m.db.Query(`SELECT device, seq FROM mb_heads WHERE topic = ? LIMIT ?`, topic[:], p2p.MaxVectorDevices)
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

// get streams the group's entries beyond the requester's vector, in the
// order they were stored (which follows their dependencies), in batches.
func (m *mailbox) get(w *bufio.Writer, topic [32]byte, body []byte) error {
	vec, err := p2p.DecodeVector(body)
	if err != nil {
		return err
	}
	m.mu.Lock()
	_, err = m.db.Exec(`UPDATE mb_groups SET touched = ? WHERE topic = ?`, m.now().UnixMilli(), topic[:])
	m.mu.Unlock()
	if err != nil {
		return err
	}
	rows, err := m.db.Query(`SELECT device, seq, raw FROM mb_entries WHERE topic = ? ORDER BY stored, device, seq`, topic[:])
	if err != nil {
		return err
	}
	defer rows.Close()
	var batch [][]byte
	size, n := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p2p.WriteFrame(w, p2p.EncodeBatch(batch))
		n += len(batch)
		batch, size = nil, 0
		return err
	}
	for rows.Next() {
		var d, raw []byte
		var seq uint64
		if err := rows.Scan(&d, &seq, &raw); err != nil {
			return err
		}
		if seq <= vec[keys.Public(d)] {
			continue
		}
		if len(batch) == 256 || size+len(raw) > p2p.MaxFrame/2 {
			if err := flush(); err != nil {
				return err
			}
		}
		batch, size = append(batch, raw), size+len(raw)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	m.count(&m.served, int64(n))
	return p2p.WriteFrame(w, nil)
}

// expire deletes entries older than Keep, and groups neither registered
// nor read for as long, with their networks and heads.
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
		`DELETE FROM mb_networks WHERE topic IN (SELECT topic FROM mb_groups WHERE touched < ?)`,
		`DELETE FROM mb_heads WHERE topic IN (SELECT topic FROM mb_groups WHERE touched < ?)`,
		`DELETE FROM mb_groups WHERE touched < ?`,
	} {
		if _, err := tx.Exec(q, cut); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`UPDATE mb_groups SET bytes = (SELECT coalesce(sum(length(raw)), 0) FROM mb_entries WHERE mb_entries.topic = mb_groups.topic)`); err != nil {
		return err
	}
	return tx.Commit()
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
