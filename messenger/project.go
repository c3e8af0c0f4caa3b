package messenger

import (
	"database/sql"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/store"
)

// Limits on what the messenger accepts from the API and projects from the
// network (docs/protocol.md §12).
const (
	MaxBody  = 16 << 10 // bytes of text in a message or an edit
	MaxEmoji = 32       // bytes of one reaction
	idSize   = 32
)

// row is one message as the messenger stores it.
type row struct {
	kind    int
	body    sql.NullString
	target  []byte
	emoji   sql.NullString
	flag    int
	sentAt  int64
	searchs bool // the body goes into the full-text index
}

// decode reads a message body. Anything that is not a valid version-1
// payload of a known kind with well-formed fields — a newer peer's kind, a
// bad field — is kept as unsupported: never an error, never a crash.
func decode(body []byte) (row, *payloadpb.Payload) {
	var p payloadpb.Payload
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &p); err != nil || p.Version != 1 {
		return row{kind: kindUnsupported}, nil
	}
	r := row{sentAt: p.SentAtMs}
	okID := func(b []byte) bool { return len(b) == idSize }
	okText := func(s string, max int) bool { return len(s) <= max && utf8.ValidString(s) }
	switch k := p.Kind.(type) {
	case *payloadpb.Payload_Text:
		if !okText(k.Text.Body, MaxBody) || (len(k.Text.ReplyTo) != 0 && !okID(k.Text.ReplyTo)) {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		r.kind, r.body, r.searchs = kindText, sql.NullString{String: k.Text.Body, Valid: true}, true
		if len(k.Text.ReplyTo) > 0 {
			r.target = k.Text.ReplyTo
		}
		if k.Text.Scrubbed {
			r.flag, r.body.String, r.searchs = 1, "", false
		}
	case *payloadpb.Payload_Reaction:
		if !okID(k.Reaction.Target) || k.Reaction.Emoji == "" || !okText(k.Reaction.Emoji, MaxEmoji) {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		if !okEmoji(k.Reaction.Emoji) {
			// Words, or an emoji newer than this program knows: nothing
			// to show, and no line saying so.
			return row{kind: kindIgnored, sentAt: p.SentAtMs}, nil
		}
		r.kind, r.target = kindReaction, k.Reaction.Target
		r.emoji = sql.NullString{String: k.Reaction.Emoji, Valid: true}
		if k.Reaction.Remove {
			r.flag = 1
		}
	case *payloadpb.Payload_Edit:
		if !okID(k.Edit.Target) || !okText(k.Edit.Body, MaxBody) {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		r.kind, r.target, r.searchs = kindEdit, k.Edit.Target, true
		r.body = sql.NullString{String: k.Edit.Body, Valid: true}
		if k.Edit.Scrubbed {
			r.flag, r.body.String, r.searchs = 1, "", false
		}
	case *payloadpb.Payload_Delete:
		if !okID(k.Delete.Target) {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		r.kind, r.target = kindDelete, k.Delete.Target
	case *payloadpb.Payload_Receipt:
		read, delivered := k.Receipt.ReadUpTo, k.Receipt.DeliveredUpTo
		if (len(read) != 0 && !okID(read)) || (len(delivered) != 0 && !okID(delivered)) || len(read)+len(delivered) == 0 {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		// One row per receipt: target is what was read (or, for a
		// delivery-only receipt, delivered); flag 1 marks delivery-only.
		r.kind, r.target = kindReceipt, read
		if len(read) == 0 {
			r.target, r.flag = delivered, 1
		}
	case *payloadpb.Payload_GroupInvitation:
		if !okText(k.GroupInvitation.GroupName, 256) || len(k.GroupInvitation.Invitation) == 0 || len(k.GroupInvitation.Invitation) > 4096 {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		r.kind = kindInvitation
		r.body = sql.NullString{String: k.GroupInvitation.GroupName, Valid: true}
	case *payloadpb.Payload_Settings:
		if !okID(k.Settings.Topic) {
			return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
		}
		r.kind, r.target, r.flag = kindSettings, k.Settings.Topic, 0
		r.sentAt = k.Settings.MutedUntilMs // the setting's value rides in sent_at's column
	default:
		return row{kind: kindUnsupported, sentAt: p.SentAtMs}, nil
	}
	return r, &p
}

// okEmoji reports whether s is a reaction: 1 to MaxEmoji bytes of emoji.
// Each base character is a pictograph or symbol (Unicode So), or any other
// visible non-ASCII character that U+FE0F turns into an emoji (‼️ ↔️ ℹ️ 〽️), or a digit,
// # or * as a keycap (with U+20E3 after it); skin tones, joiners, variation
// selectors and tags compose them. Words are not reactions.
func okEmoji(s string) bool {
	if s == "" || len(s) > MaxEmoji || !utf8.ValidString(s) {
		return false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		next := func(k int) rune {
			if i+k < len(rs) {
				return rs[i+k]
			}
			return 0
		}
		switch {
		case r >= '0' && r <= '9' || r == '#' || r == '*':
			// A keycap: the character, U+FE0F (optional), U+20E3.
			switch {
			case next(1) == 0x20E3:
				i++
			case next(1) == 0xFE0F && next(2) == 0x20E3:
				i += 2
			default:
				return false
			}
		case unicode.Is(unicode.So, r):
		case next(1) == 0xFE0F && r > 0x7F && unicode.IsGraphic(r) && !unicode.IsSpace(r) && !unicode.Is(unicode.Mn, r):
			i++ // a (non-ASCII) character shown as an emoji
		case r >= 0x1F3FB && r <= 0x1F3FF: // skin tones
		case r == 0x200D, r == 0xFE0E, r == 0xFE0F: // joiner, presentation
		case r >= 0xE0020 && r <= 0xE007F: // tags (subdivision flags)
		default:
			return false
		}
	}
	return true
}

// projector writes the messenger's rows inside the store's commits. Its
// statements are prepared once on the store's connection.
type projector struct {
	st    stmts
	dirty chan struct{} // wakes the indexer (nil: none)
}

// chunk is how many targets one delete lookup carries: a lookup per new
// text cost more, in statement overhead, than the B-tree work it did.
const chunk = 32

const insertSQL = `INSERT OR IGNORE INTO m_interactions(topic, lamport, id, device, seq, member, kind, body, target, emoji, flag, sent_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// deletesSQL: the deletes of up to chunk targets (padded with repeats),
// with their authors and conversations. A delete may arrive before its
// text.
var deletesSQL = `SELECT target, member, topic FROM m_interactions WHERE target IN (` +
	strings.TrimSuffix(strings.Repeat(`?,`, chunk), ",") + `) AND kind = 4`

// stmts are the projector's statements: prepared on the database (bound
// to a transaction with Tx.Stmt), or on the transaction itself.
type stmts struct{ insert, deletes *sql.Stmt }

// prepare prepares the projector's statements with prep.
func prepare(prep func(string) (*sql.Stmt, error)) (stmts, error) {
	var st stmts
	for _, x := range []struct {
		st **sql.Stmt
		q  string
	}{{&st.insert, insertSQL}, {&st.deletes, deletesSQL}} {
		s, err := prep(x.q)
		if err != nil {
			st.close()
			return stmts{}, err
		}
		*x.st = s
	}
	return st, nil
}

func (st stmts) close() {
	for _, s := range []*sql.Stmt{st.insert, st.deletes} {
		if s != nil {
			s.Close()
		}
	}
}

func (st stmts) in(tx *sql.Tx) stmts {
	return stmts{tx.Stmt(st.insert), tx.Stmt(st.deletes)}
}

func newProjector(db *sql.DB) (*projector, error) {
	st, err := prepare(db.Prepare)
	if err != nil {
		return nil, err
	}
	return &projector{st: st}, nil
}

// Project implements sqlite.Projector: one row per message, a search entry
// per text, and the effects of deletes (the text scrubbed from the
// database, the protocol's messages table included).
func (p *projector) Project(tx *sql.Tx, msgs []store.Message) error {
	if err := project(tx, p.st.in(tx), msgs); err != nil {
		return err
	}
	if p.dirty != nil {
		select {
		case p.dirty <- struct{}{}:
		default:
		}
	}
	return nil
}

// deleteKey is a delete as it counts: of target, by member, in topic.
type deleteKey struct{ target, member, topic [32]byte }

// project writes msgs' rows, then applies deletes. Every row goes in
// first: a delete and its text in one batch then meet whichever comes
// first, as they do across batches. Messages delivered again are skipped.
func project(tx *sql.Tx, st stmts, msgs []store.Message) error {
	rows := make([]row, len(msgs))
	for i := range msgs {
		rows[i], _ = decode(msgs[i].Body)
	}
	fresh, err := insertRows(st, msgs, rows)
	if err != nil {
		return fmt.Errorf("project message: %w", err)
	}
	// The deletes already there (or in this batch) of the new texts and
	// of the texts that new edits change.
	var targets [][32]byte
	for i := range msgs {
		switch {
		case !fresh[i]:
		case rows[i].kind == kindText:
			targets = append(targets, msgs[i].ID)
		case rows[i].kind == kindEdit:
			targets = append(targets, [32]byte(rows[i].target))
		}
	}
	deletes, err := findDeletes(st, targets)
	if err != nil {
		return fmt.Errorf("project message: %w", err)
	}
	scrubbed := map[[32]byte]bool{}
	for i := range msgs {
		m, r := &msgs[i], &rows[i]
		if !fresh[i] {
			continue
		}
		switch r.kind {
		case kindText, kindEdit:
			// Indexed for search later, off the commit path (index.go),
			// unless its author deleted it.
			target := m.ID
			if r.kind == kindEdit {
				target = [32]byte(r.target)
			}
			if deletes[deleteKey{target, m.Member, m.Topic}] && !scrubbed[m.ID] {
				scrubbed[m.ID] = true
				if err := scrub(tx, m.ID[:]); err != nil {
					return err
				}
			}
		case kindDelete:
			if err := applyDelete(tx, m, r, scrubbed); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertRows inserts the rows and reports which were new.
func insertRows(st stmts, msgs []store.Message, rows []row) ([]bool, error) {
	fresh := make([]bool, len(msgs))
	for i := range msgs {
		m, r := &msgs[i], &rows[i]
		res, err := st.insert.Exec(m.Topic[:], m.Lamport, m.ID[:], m.Device[:], m.Seq, m.Member[:], r.kind, r.body, r.target, r.emoji, r.flag, r.sentAt)
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		fresh[i] = n == 1 // 0: delivered again
	}
	return fresh, nil
}

// findDeletes looks up the deletes of targets, chunk at a time.
func findDeletes(st stmts, targets [][32]byte) (map[deleteKey]bool, error) {
	found := map[deleteKey]bool{}
	args := make([]any, chunk)
	for lo := 0; lo < len(targets); lo += chunk {
		for j := range chunk {
			t := targets[min(lo+j, len(targets)-1)] // padded with the last
			args[j] = t[:]
		}
		rs, err := st.deletes.Query(args...)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			var target, member, topic []byte
			if err := rs.Scan(&target, &member, &topic); err != nil {
				rs.Close()
				return nil, err
			}
			if len(target) == idSize && len(member) == idSize && len(topic) == idSize {
				found[deleteKey{[32]byte(target), [32]byte(member), [32]byte(topic)}] = true
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// applyDelete applies the author's delete of its own text: it scrubs the
// text and its edits — in this conversation only (a member key can be the
// same in two 1:1 conversations: the account key).
func applyDelete(tx *sql.Tx, m *store.Message, r *row, scrubbed map[[32]byte]bool) error {
	// (+topic: filter, do not scan by topic — the id and target indexes
	// find the rows.)
	// Only a text is deleted (§12.2): a delete that names anything else,
	// an edit included, is kept but changes nothing, whichever came first.
	rows, err := tx.Query(`SELECT id FROM m_interactions WHERE member = ? AND ((id = ? AND kind = ?) OR (target = ? AND kind = ?)) AND +topic = ?`,
		m.Member[:], r.target, kindText, r.target, kindEdit, m.Topic[:])
	if err != nil {
		return fmt.Errorf("project delete: %w", err)
	}
	var ids [][32]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("project delete: %w", err)
		}
		ids = append(ids, [32]byte(id))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("project delete: %w", err)
	}
	for _, id := range ids {
		if scrubbed[id] {
			continue
		}
		scrubbed[id] = true
		if err := scrub(tx, id[:]); err != nil {
			return err
		}
	}
	return nil
}

// scrub removes a text's words from the database: the messenger's row and
// search entry, and the body in the protocol's messages table, which keeps
// the message's place (and a canonical empty payload) so that the feed and
// Rebuild stay as they are.
func scrub(tx *sql.Tx, id []byte) error {
	var topic, device []byte
	var seq uint64
	var kind int
	var sentAt int64
	var target []byte
	if err := tx.QueryRow(`SELECT topic, device, seq, kind, sent_at, target FROM m_interactions WHERE id = ?`, id).Scan(&topic, &device, &seq, &kind, &sentAt, &target); err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	empty := &payloadpb.Payload{Version: 1, SentAtMs: sentAt}
	switch kind {
	case kindText:
		empty.Kind = &payloadpb.Payload_Text{Text: &payloadpb.Text{ReplyTo: target, Scrubbed: true}}
	case kindEdit:
		empty.Kind = &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: target, Scrubbed: true}}
	default:
		return nil
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(empty)
	if err != nil {
		return err
	}
	var rowid int64
	if err := tx.QueryRow(`SELECT rowid FROM messages WHERE topic = ? AND device = ? AND seq = ?`, topic, device, seq).Scan(&rowid); err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE messages SET body = ? WHERE rowid = ?`, []any{body, rowid}},
		{`UPDATE m_interactions SET body = '', flag = 1 WHERE id = ?`, []any{id}},
		{`DELETE FROM m_search WHERE rowid = ?`, []any{rowid}},
	} {
		if _, err := tx.Exec(q.sql, q.args...); err != nil {
			return fmt.Errorf("scrub: %w", err)
		}
	}
	return nil
}

// Truncate implements sqlite.Projector: a cut-off removes the feed's
// messages after a seq, and their rows and search entries with them.
func (*projector) Truncate(tx *sql.Tx, t store.Truncation) error {
	// The deleted rowids may be handed out again to new messages (SQLite
	// reuses the largest): move the index cursor back before the first of
	// them and drop the index entries after it, to be indexed again.
	var first sql.NullInt64
	if err := tx.QueryRow(`SELECT min(rowid) FROM messages WHERE topic = ? AND device = ? AND seq > ?`,
		t.Topic[:], t.Device[:], t.After).Scan(&first); err != nil {
		return fmt.Errorf("project truncation: %w", err)
	}
	if first.Valid {
		if _, err := tx.Exec(`DELETE FROM m_search WHERE rowid >= ?`, first.Int64); err != nil {
			return fmt.Errorf("project truncation: %w", err)
		}
		if _, err := tx.Exec(`UPDATE m_meta SET value = min(value, ?) WHERE key = 'indexed'`, first.Int64-1); err != nil {
			return fmt.Errorf("project truncation: %w", err)
		}
	}
	if _, err := tx.Exec(`DELETE FROM m_interactions WHERE id IN (SELECT entry_id FROM messages WHERE topic = ? AND device = ? AND seq > ?)`, t.Topic[:], t.Device[:], t.After); err != nil {
		return fmt.Errorf("project truncation: %w", err)
	}
	return nil
}
