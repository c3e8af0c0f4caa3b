package messenger

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/store"
)

// receiptsChat is alice's n texts in testTopic, each followed by bob's read
// receipt for it (a device that marks every message read as it shows).
func receiptsChat(tb testing.TB, n int) (db func(func(*sql.DB) error) error, last store.Message) {
	st := openProjection(tb)
	msg := authoring(tb)
	var batch []store.Message
	for i := range n {
		text := msg(alice, testTextBody)
		text.Lamport = uint64(2*i + 1)
		receipt := msg(bob, &payloadpb.Payload{Kind: &payloadpb.Payload_Receipt{Receipt: &payloadpb.Receipt{ReadUpTo: text.ID[:]}}})
		receipt.Lamport = uint64(2*i + 2)
		batch = append(batch, text, receipt)
		last = text
		if len(batch) >= 2000 || i == n-1 {
			if err := st.Commit(&store.Batch{Messages: batch}); err != nil {
				tb.Fatal(err)
			}
			batch = nil
		}
	}
	return st.View, last
}

// TestMarkerPlans: the read marker and the own-last lookup read through
// indexes in the order they need, with no sort of a whole conversation.
func TestMarkerPlans(t *testing.T) {
	view, last := receiptsChat(t, 50)
	err := view(func(db *sql.DB) error {
		c, err := marker(db, testTopic, keys.Public(bob), true)
		if err != nil {
			return err
		}
		if c == nil || c.ID != last.ID {
			t.Errorf("bob's read marker %v, want alice's last text %x", c, last.ID)
		}
		for _, q := range []struct{ name, sql, want string }{
			{"marker", `EXPLAIN QUERY PLAN SELECT r.lamport, t.lamport, t.id FROM m_interactions r CROSS JOIN m_interactions t ON t.id = r.target AND t.topic = r.topic AND t.lamport < r.lamport
				WHERE r.topic = ? AND r.kind = 5 AND r.member = ? AND r.flag = 0 ORDER BY r.lamport DESC`, "m_receipts"},
			{"own last", `EXPLAIN QUERY PLAN SELECT member, lamport, id FROM m_interactions WHERE topic = ?1 AND (lamport, id) > (0, ?2) AND kind IN ` + displayKinds + `
				ORDER BY lamport DESC, id DESC LIMIT 1000`, "PRIMARY KEY"}, // the inner query of ownLast
		} {
			rows, err := db.Query(q.sql, testTopic[:], bob[:])
			if err != nil {
				return err
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			rows.Close()
			p := strings.Join(plan, "; ")
			if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, q.want) {
				t.Errorf("%s: plan %q: want %s and no sort", q.name, p, q.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMarker: bob's read marker in a conversation where he sent a
// receipt for every one of alice's 20 000 texts.
func BenchmarkMarker(b *testing.B) {
	view, _ := receiptsChat(b, 20000)
	b.ResetTimer()
	for b.Loop() {
		if err := view(func(db *sql.DB) error {
			_, err := marker(db, testTopic, keys.Public(bob), true)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMarkerRule: the read marker is the furthest message a receipt names
// among the messages before it (§12.3), whatever order the receipts come
// in: a later receipt for an older message (a second device catching up)
// does not move it back, and a receipt naming a message after itself
// (which its author cannot have seen) does not count.
func TestMarkerRule(t *testing.T) {
	st := openProjection(t)
	msg := authoring(t)
	var texts []store.Message
	for i := range 4 {
		m := msg(alice, testTextBody)
		m.Lamport = uint64(i + 1)
		texts = append(texts, m)
	}
	receipt := func(target store.Message, lamport uint64) store.Message {
		r := msg(bob, &payloadpb.Payload{Kind: &payloadpb.Payload_Receipt{Receipt: &payloadpb.Receipt{ReadUpTo: target.ID[:]}}})
		r.Lamport = lamport
		return r
	}
	all := append(texts, receipt(texts[2], 10), receipt(texts[0], 11), receipt(texts[3], 3))
	if err := st.Commit(&store.Batch{Messages: all}); err != nil {
		t.Fatal(err)
	}
	err := st.View(func(db *sql.DB) error {
		c, err := marker(db, testTopic, keys.Public(bob), true)
		if err != nil {
			return err
		}
		if c == nil || c.ID != texts[2].ID {
			t.Errorf("bob's read marker %v, want the third text %x", c, texts[2].ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkOwnLast: where bob's own last message is, for his unread count,
// in 20 000 texts of alice's and none of his (no read marker either): the
// worst case, which scans back MaxUnread messages and stops.
func BenchmarkOwnLast(b *testing.B) {
	view, _ := receiptsChat(b, 20000)
	b.ResetTimer()
	for b.Loop() {
		if err := view(func(db *sql.DB) error {
			_, err := ownLast(db, testTopic, keys.Public(bob), Cursor{})
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
