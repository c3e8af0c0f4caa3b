package messenger

import (
	"bytes"
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/node"
)

// Kind is what an interaction shows as.
type Kind int

// Interaction kinds a view shows.
const (
	KindUnsupported Kind = iota // a newer peer's kind, or a malformed payload
	KindText
	KindInvitation
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindInvitation:
		return "invitation"
	}
	return "unsupported"
}

// Cursor is a place in a conversation's display order (§12.3): Lamport
// clock, then entry ID.
type Cursor struct {
	Lamport uint64
	ID      [32]byte
}

// Reaction is one emoji on a message and who put it there.
type Reaction struct {
	Emoji string
	Count int
	Mine  bool
}

// Interaction is one message as a chat UI shows it.
type Interaction struct {
	Topic   [32]byte
	ID      [32]byte
	Lamport uint64
	Member  keys.Public // the author's member key in this conversation
	Name    string      // the author's display name
	Own     bool        // written by this account (any of its devices)
	SentAt  time.Time   // the author's clock
	Kind    Kind
	// Body is the text (after its author's last edit; "" once deleted),
	// or a group invitation's group name.
	Body    string
	Edited  bool
	Deleted bool // a tombstone: the author deleted it
	// ReplyTo is the message this one answers, with its text as it shows
	// now ("" if it has not arrived or was deleted).
	ReplyTo   *[32]byte
	ReplyText string
	Reactions []Reaction
}

// Cursor returns the interaction's place in display order.
func (i *Interaction) Cursor() Cursor { return Cursor{Lamport: i.Lamport, ID: i.ID} }

// displayable kinds: what a conversation shows and counts as unread.
var displayKinds = fmt.Sprintf("(%d, %d, %d)", kindText, kindInvitation, kindUnsupported)

// History returns up to limit interactions of a conversation before a
// cursor (nil: the latest), newest first: the page a UI shows when it opens
// the conversation, then "load older" with the last one's Cursor.
func (m *Messenger) History(topic [32]byte, before *Cursor, limit int) ([]Interaction, error) {
	if limit < 1 {
		return nil, ErrBadLimit
	}
	v, err := m.view(topic)
	if err != nil {
		return nil, err
	}
	lam, id := uint64(1<<63-1), make([]byte, 32)
	for i := range id {
		id[i] = 0xff
	}
	if before != nil {
		lam, id = before.Lamport, before.ID[:]
	}
	var out []Interaction
	err = m.st.View(func(db *sql.DB) error {
		rows, err := db.Query(`SELECT lamport, id, member, kind, body, target, sent_at FROM m_interactions
			WHERE topic = ? AND kind IN `+displayKinds+` AND (lamport, id) < (?, ?)
			ORDER BY lamport DESC, id DESC LIMIT ?`, topic[:], lam, id, limit)
		if err != nil {
			return err
		}
		out, err = scanInteractions(rows, topic)
		if err != nil {
			return err
		}
		return v.dress(db, out)
	})
	return out, err
}

// Around returns the interaction id with up to n before and n after it,
// oldest first: "jump to message" (from a search result or a reply).
func (m *Messenger) Around(topic [32]byte, id [32]byte, n int) ([]Interaction, error) {
	if n < 0 {
		return nil, ErrBadLimit
	}
	v, err := m.view(topic)
	if err != nil {
		return nil, err
	}
	return m.around(v, id, n)
}

// around is Around with the conversation's view already built.
func (m *Messenger) around(v *conv, id [32]byte, n int) ([]Interaction, error) {
	topic := v.topic
	var out []Interaction
	err := m.st.View(func(db *sql.DB) error {
		var lam uint64
		err := db.QueryRow(`SELECT lamport FROM m_interactions WHERE topic = ? AND id = ?`, topic[:], id[:]).Scan(&lam)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMessage
		}
		if err != nil {
			return err
		}
		older, err := db.Query(`SELECT lamport, id, member, kind, body, target, sent_at FROM m_interactions
			WHERE topic = ? AND kind IN `+displayKinds+` AND (lamport, id) < (?, ?)
			ORDER BY lamport DESC, id DESC LIMIT ?`, topic[:], lam, id[:], n)
		if err != nil {
			return err
		}
		before, err := scanInteractions(older, topic)
		if err != nil {
			return err
		}
		newer, err := db.Query(`SELECT lamport, id, member, kind, body, target, sent_at FROM m_interactions
			WHERE topic = ? AND kind IN `+displayKinds+` AND (lamport, id) >= (?, ?)
			ORDER BY lamport, id LIMIT ?`, topic[:], lam, id[:], n+1)
		if err != nil {
			return err
		}
		after, err := scanInteractions(newer, topic)
		if err != nil {
			return err
		}
		for i := len(before) - 1; i >= 0; i-- {
			out = append(out, before[i])
		}
		out = append(out, after...)
		return v.dress(db, out)
	})
	return out, err
}

func scanInteractions(rows *sql.Rows, topic [32]byte) ([]Interaction, error) {
	defer rows.Close()
	var out []Interaction
	for rows.Next() {
		var it Interaction
		var id, member, target []byte
		var kind int
		var body sql.NullString
		var sentAt int64
		if err := rows.Scan(&it.Lamport, &id, &member, &kind, &body, &target, &sentAt); err != nil {
			return nil, err
		}
		it.Topic = topic
		copy(it.ID[:], id)
		copy(it.Member[:], member)
		it.SentAt = time.UnixMilli(sentAt)
		it.Body = body.String
		switch kind {
		case kindText:
			it.Kind = KindText
			if len(target) == idSize {
				var r [32]byte
				copy(r[:], target)
				it.ReplyTo = &r
			}
		case kindInvitation:
			it.Kind = KindInvitation
		default:
			it.Kind = KindUnsupported
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// conv is what a view of one conversation needs from the node.
type conv struct {
	topic [32]byte
	me    keys.Public
	names map[keys.Public]string
	// earlier: this account's member keys from earlier memberships of the
	// group (§3.2): what they wrote is its own too.
	earlier map[keys.Public]bool
}

// mine reports whether a member key is this account's, in this membership
// or an earlier one.
func (v *conv) mine(k keys.Public) bool { return k == v.me || v.earlier[k] }

func (m *Messenger) view(topic [32]byte) (*conv, error) {
	n, err := m.attached()
	if err != nil {
		return nil, err
	}
	gi, err := n.Group(topic)
	if errors.Is(err, node.ErrUnknownGroup) {
		return nil, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
	}
	if err != nil {
		return nil, err
	}
	me, err := n.MemberKey(topic)
	if err != nil {
		return nil, err
	}
	earlier, err := n.EarlierMemberKeys(topic)
	if err != nil {
		return nil, err
	}
	v := &conv{topic: topic, me: me, names: map[keys.Public]string{}, earlier: map[keys.Public]bool{}}
	for _, k := range earlier {
		v.earlier[k] = true
	}
	for _, mb := range gi.Members {
		v.names[mb.Key] = mb.Name
	}
	if gi.Kind == group.KindContact {
		for _, c := range n.Contacts() {
			if name := v.names[c.Account]; name == "" {
				if _, in := v.names[c.Account]; in {
					v.names[c.Account] = c.Name
				}
			}
		}
	}
	if v.names[me] == "" {
		v.names[me] = n.Name()
	}
	return v, nil
}

// dress fills in what shows on each interaction: names, edits, deletes,
// reactions, the text replied to.
func (v *conv) dress(db *sql.DB, its []Interaction) error {
	for i := range its {
		it := &its[i]
		it.Name, it.Own = v.names[it.Member], v.mine(it.Member)
		if it.Kind != KindText {
			continue
		}
		if err := v.effective(db, it.ID, it.Member, &it.Body, &it.Edited, &it.Deleted); err != nil {
			return err
		}
		if it.ReplyTo != nil {
			var author []byte
			var body sql.NullString
			// Only a text is quoted: a reply that names an edit, say,
			// must not show words its target never showed (§12.2).
			err := db.QueryRow(`SELECT member, body FROM m_interactions WHERE id = ? AND topic = ? AND kind = ?`, it.ReplyTo[:], v.topic[:], kindText).Scan(&author, &body)
			if err == nil {
				it.ReplyText = body.String
				var edited, deleted bool
				if err := v.effective(db, *it.ReplyTo, keys.Public(author), &it.ReplyText, &edited, &deleted); err != nil {
					return err
				}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		rs, err := v.reactions(db, it.ID)
		if err != nil {
			return err
		}
		it.Reactions = rs
	}
	return nil
}

// effective applies the author's own edits and delete to a text: only the
// author's devices count (§12.2).
func (v *conv) effective(db *sql.DB, id [32]byte, author keys.Public, body *string, edited, deleted *bool) error {
	// Only what was written in this conversation counts: the same member
	// key (the account key, in 1:1s) writes in others too.
	// A text its author deleted is a tombstone: by the delete, or by the
	// mark a device leaves when it scrubs the words (§12.2), which stays
	// even if the delete is later cut off (§5.3).
	err := db.QueryRow(`SELECT EXISTS(SELECT 1 FROM m_interactions WHERE target = ? AND kind = ? AND member = ? AND +topic = ?)
		OR EXISTS(SELECT 1 FROM m_interactions WHERE id = ? AND kind = ? AND flag = 1)`,
		id[:], kindDelete, author[:], v.topic[:], id[:], kindText).Scan(deleted)
	if err != nil {
		return err
	}
	if *deleted {
		*body = ""
		return nil
	}
	var b sql.NullString
	err = db.QueryRow(`SELECT body FROM m_interactions WHERE target = ? AND kind = ? AND member = ? AND +topic = ? AND flag = 0 ORDER BY lamport DESC, id DESC LIMIT 1`,
		id[:], kindEdit, author[:], v.topic[:]).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		*body, *edited = b.String, true
	}
	return nil
}

// reactions folds a message's reactions in display order: each member's
// last word on each emoji stands.
func (v *conv) reactions(db *sql.DB, id [32]byte) ([]Reaction, error) {
	rows, err := db.Query(`SELECT member, emoji, flag FROM m_interactions WHERE target = ? AND kind = ? AND +topic = ? ORDER BY lamport, id`,
		id[:], kindReaction, v.topic[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct {
		member keys.Public
		emoji  string
	}
	on := map[key]bool{}
	var order []string
	for rows.Next() {
		var member []byte
		var emoji string
		var flag int
		if err := rows.Scan(&member, &emoji, &flag); err != nil {
			return nil, err
		}
		k := key{keys.Public(member), emoji}
		on[k] = flag == 0
		found := false
		for _, e := range order {
			found = found || e == emoji
		}
		if !found {
			order = append(order, emoji)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Reaction
	for _, e := range order {
		r := Reaction{Emoji: e}
		for k, isOn := range on {
			if k.emoji == e && isOn {
				r.Count++
				r.Mine = r.Mine || v.mine(k.member)
			}
		}
		if r.Count > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// Marker is how far a member has got in a conversation.
type Marker struct {
	Member    keys.Public
	Name      string
	Read      *Cursor // nil: nothing read yet
	Delivered *Cursor
}

// Receipts returns every member's read and delivered markers in a
// conversation: one "up to" marker each, however many messages it covers.
func (m *Messenger) Receipts(topic [32]byte) ([]Marker, error) {
	v, err := m.view(topic)
	if err != nil {
		return nil, err
	}
	var out []Marker
	err = m.st.View(func(db *sql.DB) error {
		for member, name := range v.names {
			mk := Marker{Member: member, Name: name}
			var err error
			if mk.Read, err = marker(db, topic, member, true); err != nil {
				return err
			}
			if mk.Delivered, err = marker(db, topic, member, false); err != nil {
				return err
			}
			out = append(out, mk)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Marker) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return bytes.Compare(a.Member[:], b.Member[:])
	})
	return out, err
}

// marker returns the furthest message (in display order) a member's
// receipts say it read (or, with read false, received: a read is a
// delivery too). A receipt counts only for a message before it, with a
// smaller Lamport clock: its author had seen what it acknowledges (§12.3).
// So the member's receipts are walked from the latest, and the walk stops
// at the first one no later than the best message found: none after it
// can name a later message. A member that marks every message read has
// thousands of receipts; this reads a few.
func marker(db *sql.DB, topic [32]byte, member keys.Public, read bool) (*Cursor, error) {
	// Through m_receipts (whose WHERE needs the kind as a literal), in
	// the receipts' order; then what each points at, by entry ID.
	q := `SELECT r.lamport, t.lamport, t.id FROM m_interactions r CROSS JOIN m_interactions t ON t.id = r.target AND t.topic = r.topic AND t.lamport < r.lamport
		WHERE r.topic = ? AND r.kind = ` + strconv.Itoa(kindReceipt) + ` AND r.member = ?`
	if read {
		q += ` AND r.flag = 0`
	}
	q += ` ORDER BY r.lamport DESC`
	rows, err := db.Query(q, topic[:], member[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var best *Cursor
	for rows.Next() {
		var at uint64
		var c Cursor
		var id []byte
		if err := rows.Scan(&at, &c.Lamport, &id); err != nil {
			return nil, err
		}
		if best != nil && at <= best.Lamport {
			break
		}
		copy(c.ID[:], id)
		if best == nil || cursorLess(*best, c) {
			best = &c
		}
	}
	return best, rows.Err()
}

// MaxUnread caps a conversation's unread count: a UI shows "999+".
const MaxUnread = 1000

// Conversation is one entry of the conversation list.
type Conversation struct {
	Topic      [32]byte
	Kind       group.Kind
	Name       string
	Contact    keys.Public // the other account of a 1:1 conversation
	Last       *Interaction
	Unread     int       // others' messages after the account's read marker and own last message, at most MaxUnread
	MutedUntil time.Time // zero: not muted

	stored int64 // the messages rowid of Last: when this device stored it (0: no message)
}

// Conversations returns the account's conversations, the most recently
// active first.
func (m *Messenger) Conversations() ([]Conversation, error) {
	n, err := m.attached()
	if err != nil {
		return nil, err
	}
	var out []Conversation
	for _, gi := range n.Topics() {
		c, err := m.conversation(n, gi)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	// Latest activity first: by when this device stored each one's last
	// message. Lamport clocks order a conversation, not two: one of
	// 10 000 messages would stay above a new contact's first.
	slices.SortStableFunc(out, func(a, b Conversation) int { return cmp.Compare(b.stored, a.stored) })
	return out, nil
}

// Conversation returns one conversation's list entry.
func (m *Messenger) Conversation(topic [32]byte) (*Conversation, error) {
	n, err := m.attached()
	if err != nil {
		return nil, err
	}
	for _, gi := range n.Topics() {
		if gi.Topic == topic {
			return m.conversation(n, gi)
		}
	}
	return nil, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
}

func (m *Messenger) conversation(n *node.Node, gi node.GroupInfo) (*Conversation, error) {
	c := &Conversation{Topic: gi.Topic, Kind: gi.Kind, Name: gi.Name, Contact: gi.Contact}
	page, err := m.History(gi.Topic, nil, 1)
	if err != nil {
		return nil, err
	}
	if len(page) > 0 {
		c.Last = &page[0]
	}
	me, err := n.MemberKey(gi.Topic)
	if err != nil {
		return nil, err
	}
	acct := n.AccountTopic()
	err = m.st.View(func(db *sql.DB) error {
		read, err := marker(db, gi.Topic, me, true)
		if err != nil {
			return err
		}
		if read == nil {
			read = &Cursor{}
		}
		// Writing in a conversation reads it: unread starts after the later
		// of the read marker and the account's own last message.
		if c.Last != nil {
			err := db.QueryRow(`SELECT msg.rowid FROM m_interactions i JOIN messages msg ON msg.topic = i.topic AND msg.device = i.device AND msg.seq = i.seq
				WHERE i.id = ? AND +i.topic = ?`, c.Last.ID[:], gi.Topic[:]).Scan(&c.stored)
			if err != nil {
				return err
			}
		}
		if own, err := ownLast(db, gi.Topic, me, *read); err != nil {
			return err
		} else if own != nil {
			read = own
		}
		if err := db.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM m_interactions WHERE topic = ? AND kind IN `+displayKinds+`
			AND member != ? AND (lamport, id) > (?, ?) LIMIT ?)`,
			gi.Topic[:], me[:], read.Lamport, read.ID[:], MaxUnread).Scan(&c.Unread); err != nil {
			return err
		}
		var until int64
		err = db.QueryRow(`SELECT sent_at FROM m_interactions WHERE topic = ? AND kind = ? AND target = ? ORDER BY lamport DESC, id DESC LIMIT 1`,
			acct[:], kindSettings, gi.Topic[:]).Scan(&until)
		if err == nil && until > 0 {
			c.MutedUntil = time.UnixMilli(until)
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return nil
	})
	return c, err
}

// ownLast is the member's last displayable message after the cursor, if
// it is among the last MaxUnread displayable messages: scanning back from
// the end, it stops at the first one, and never goes further back than
// MaxUnread, where the unread count is at its cap whichever cursor counts.
func ownLast(db *sql.DB, topic [32]byte, me keys.Public, after Cursor) (*Cursor, error) {
	var c Cursor
	var id []byte
	err := db.QueryRow(`SELECT lamport, id FROM (
			SELECT member, lamport, id FROM m_interactions WHERE topic = ? AND (lamport, id) > (?, ?) AND kind IN `+displayKinds+`
			ORDER BY lamport DESC, id DESC LIMIT ?)
		WHERE member = ? ORDER BY lamport DESC, id DESC LIMIT 1`, topic[:], after.Lamport, after.ID[:], MaxUnread, me[:]).Scan(&c.Lamport, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	copy(c.ID[:], id)
	return &c, nil
}

func cursorLess(a, b Cursor) bool {
	if a.Lamport != b.Lamport {
		return a.Lamport < b.Lamport
	}
	return string(a.ID[:]) < string(b.ID[:])
}

// searchRanked bounds how many matches Search ranks, newest first.
const searchRanked = 2000

// Search returns up to limit text messages, across conversations, whose
// current text matches query (full-text: words, prefixes with *, phrases
// in quotes), best matches first.
func (m *Messenger) Search(query string, limit int) ([]Interaction, error) {
	if limit < 1 {
		return nil, ErrBadLimit
	}
	fts := ftsQuery(query)
	if fts == "" {
		return nil, nil
	}
	if err := m.IndexPending(); err != nil {
		return nil, err
	}
	type hit struct {
		topic  [32]byte
		id     [32]byte
		byEdit bool // found through an edit's words
	}
	var hits []hit
	err := m.st.View(func(db *sql.DB) error {
		// An edit's words find the message it edits; a superseded text or
		// edit no longer matches once a later edit replaced it.
		// Ranking scores every match; a word in most messages would take
		// it past its budget, so only the newest searchRanked matches are
		// ranked (older ones show once the newer do not fill the page).
		rows, err := db.Query(`SELECT i.topic, CASE WHEN i.kind = ? THEN i.target ELSE i.id END, i.kind = ?
			FROM (SELECT rowid, bm25(m_search) AS score FROM m_search WHERE m_search MATCH ? ORDER BY rowid DESC LIMIT ?) s
			JOIN messages msg ON msg.rowid = s.rowid
			JOIN m_interactions i ON i.id = msg.entry_id
			ORDER BY s.score LIMIT ?`, kindEdit, kindEdit, fts, searchRanked, limit*2)
		if err != nil {
			return fmt.Errorf("search %q: %w", query, err)
		}
		defer rows.Close()
		seen := map[[32]byte]bool{}
		for rows.Next() {
			var topic, id []byte
			var h hit
			if err := rows.Scan(&topic, &id, &h.byEdit); err != nil {
				return err
			}
			copy(h.topic[:], topic)
			copy(h.id[:], id)
			if !seen[h.id] {
				seen[h.id] = true
				hits = append(hits, h)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	var out []Interaction
	views := map[[32]byte]*conv{}
	for _, h := range hits {
		if len(out) == limit {
			break
		}
		// One view per conversation, not one per hit.
		v, ok := views[h.topic]
		if !ok {
			if v, err = m.view(h.topic); err != nil {
				continue
			}
			views[h.topic] = v
		}
		page, err := m.around(v, h.id, 0)
		if err != nil || len(page) == 0 {
			continue
		}
		it := page[0]
		if it.ID != h.id || it.Deleted || it.Kind != KindText {
			continue // (an edit of something that does not show: around gave a neighbour)
		}
		if h.byEdit && !it.Edited {
			continue // matched an edit that does not show: not by the author
		}
		if it.Edited {
			// Matched a text its author may have edited away: the
			// edit shown must match, by the index's own rules.
			var match bool
			err := m.st.View(func(db *sql.DB) error {
				var err error
				match, err = shownEditMatches(db, it, fts)
				return err
			})
			if err != nil {
				return nil, err
			}
			if !match {
				continue
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// shownEditMatches reports whether the edit an edited text shows (its
// author's last in display order) matches the full-text query.
func shownEditMatches(db *sql.DB, it Interaction, fts string) (bool, error) {
	var match bool
	err := db.QueryRow(`SELECT EXISTS(SELECT 1 FROM m_search WHERE m_search MATCH ?1 AND rowid = (
			SELECT msg.rowid FROM m_interactions e JOIN messages msg ON msg.topic = e.topic AND msg.device = e.device AND msg.seq = e.seq
			WHERE e.target = ?2 AND e.kind = ?3 AND e.member = ?4 AND +e.topic = ?5
			ORDER BY e.lamport DESC, e.id DESC LIMIT 1))`,
		fts, it.ID[:], kindEdit, it.Member[:], it.Topic[:]).Scan(&match)
	return match, err
}

// ftsQuery turns what a person typed into an FTS5 query: words are ANDed,
// each a prefix; FTS syntax characters are taken literally.
func ftsQuery(q string) string {
	// Control characters (a NUL ends an FTS5 string early) are no part of
	// any word.
	q = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, q)
	var parts []string
	for _, w := range strings.Fields(q) {
		w = strings.ReplaceAll(w, `"`, `""`)
		parts = append(parts, `"`+w+`"*`)
	}
	return strings.Join(parts, " ")
}
