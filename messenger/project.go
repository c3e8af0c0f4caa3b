package messenger

import (
	"database/sql"
	"fmt"
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

// projector writes the messenger's rows inside the store's commits. Its
// statements are prepared once on the store's connection.
type projector struct {
	insert, deleted *sql.Stmt
	dirty           chan struct{} // wakes the indexer (nil: none)
}

const (
	insertSQL = `INSERT OR IGNORE INTO m_interactions(topic, lamport, id, device, seq, member, kind, body, target, emoji, flag, sent_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// deletedSQL: has the author of text ?1 (member ?2) deleted it in its
	// conversation (?3)? The delete may have arrived first.
	deletedSQL = `SELECT EXISTS(SELECT 1 FROM m_interactions WHERE target = ? AND kind = 4 AND member = ? AND +topic = ?)`
)

// stmts are the projector's statements bound to one transaction.
type stmts struct{ insert, deleted *sql.Stmt }

func newProjector(db *sql.DB) (*projector, error) {
	var p projector
	for _, x := range []struct {
		st **sql.Stmt
		q  string
	}{{&p.insert, insertSQL}, {&p.deleted, deletedSQL}} {
		st, err := db.Prepare(x.q)
		if err != nil {
			return nil, err
		}
		*x.st = st
	}
	return &p, nil
}

// Project implements sqlite.Projector: one row per message, a search entry
// per text, and the effects of deletes (the text scrubbed from the
// database, the protocol's messages table included).
func (p *projector) Project(tx *sql.Tx, msgs []store.Message) error {
	st := stmts{tx.Stmt(p.insert), tx.Stmt(p.deleted)}
	for i := range msgs {
		if err := projectOne(tx, st, &msgs[i]); err != nil {
			return err
		}
	}
	if p.dirty != nil {
		select {
		case p.dirty <- struct{}{}:
		default:
		}
	}
	return nil
}

func projectOne(tx *sql.Tx, st stmts, m *store.Message) error {
	r, _ := decode(m.Body)
	res, err := st.insert.Exec(m.Topic[:], m.Lamport, m.ID[:], m.Device[:], m.Seq, m.Member[:], r.kind, r.body, r.target, r.emoji, r.flag, r.sentAt)
	if err != nil {
		return fmt.Errorf("project message: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // delivered again
	}
	deleted := false
	switch r.kind {
	case kindText, kindEdit:
		// A delete by the author may have come first.
		target := m.ID[:]
		if r.kind == kindEdit {
			target = r.target
		}
		if err := st.deleted.QueryRow(target, m.Member[:], m.Topic[:]).Scan(&deleted); err != nil {
			return fmt.Errorf("project message: %w", err)
		}
		if deleted {
			return scrub(tx, m.Topic[:], m.ID[:])
		}
		// Indexed for search later, off the commit path (index.go).
	case kindDelete:
		// The author's delete of its own text: scrub it and its edits —
		// in this conversation only (a member key can be the same in two
		// 1:1 conversations: the account key).
		// (+topic: filter, do not scan by topic — the id and target
		// indexes find the rows.)
		rows, err := tx.Query(`SELECT id FROM m_interactions WHERE member = ? AND (id = ? OR (target = ? AND kind = ?)) AND +topic = ?`,
			m.Member[:], r.target, r.target, kindEdit, m.Topic[:])
		if err != nil {
			return fmt.Errorf("project delete: %w", err)
		}
		var ids [][]byte
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("project delete: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if err := scrub(tx, nil, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrub removes a text's words from the database: the messenger's row and
// search entry, and the body in the protocol's messages table, which keeps
// the message's place (and a canonical empty payload) so that the feed and
// Rebuild stay as they are.
func scrub(tx *sql.Tx, _ []byte, id []byte) error {
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
