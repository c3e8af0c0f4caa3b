package messenger_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// dump renders the messenger's tables and the protocol's messages table,
// byte for byte, in a fixed order. The search index is contentless, so it
// is read through fts5vocab: every (term, document, offset) it holds. With
// rowids false, documents are named by their message (topic, device, seq)
// instead of the messages table's rowid, so that stores that received the
// same messages in another order compare equal.
func dump(t *testing.T, st *sqlite.Store, m *messenger.Messenger, rowids bool) string {
	t.Helper()
	// The search index is filled in the background: catch it up, as Search
	// does, so that the dump does not depend on the indexer's timing.
	if err := m.IndexPending(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err := st.View(func(db *sql.DB) error {
		msgs := `SELECT topic, device, seq, member, lamport, entry_id, own, body FROM messages ORDER BY topic, device, seq`
		if rowids {
			msgs = `SELECT rowid, topic, device, seq, member, lamport, entry_id, own, body FROM messages ORDER BY topic, device, seq`
		}
		doc := `m.topic, m.device, m.seq`
		if rowids {
			doc = `v.doc`
		}
		if _, err := db.Exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.m_vocab USING fts5vocab(main, m_search, instance)`); err != nil {
			return err
		}
		defer db.Exec(`DROP TABLE temp.m_vocab`)
		for _, q := range []string{
			`SELECT * FROM m_meta ORDER BY key`,
			`SELECT * FROM m_interactions ORDER BY topic, lamport, id`,
			msgs,
			// A LEFT JOIN, so that an index entry left behind by a message
			// that is gone shows (as NULLs).
			`SELECT v.term, ` + doc + `, v.col, v.offset FROM temp.m_vocab v LEFT JOIN messages m ON m.rowid = v.doc
				ORDER BY v.term, m.topic, m.device, m.seq, v.doc, v.offset`,
		} {
			fmt.Fprintf(&b, "-- %s\n", strings.Join(strings.Fields(q), " "))
			if err := dumpQuery(&b, db, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func dumpQuery(b *strings.Builder, db *sql.DB, q string) error {
	rows, err := db.Query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('|')
			}
			switch v := v.(type) {
			case nil:
				b.WriteString("NULL")
			case []byte:
				fmt.Fprintf(b, "x'%x'", v)
			case string:
				fmt.Fprintf(b, "%q", v)
			default:
				fmt.Fprintf(b, "%T:%v", v, v)
			}
		}
		b.WriteByte('\n')
	}
	return rows.Err()
}

// views renders everything a UI reads from a device: the conversation
// list, every conversation's history (pages of 3) and markers, and search
// results for words the scenarios use.
func views(t *testing.T, d *dev) string {
	t.Helper()
	var b strings.Builder
	for _, c := range must[[]messenger.Conversation](t)(d.m.Conversations()) {
		fmt.Fprintf(&b, "== %s\n", renderConv(&c))
		b.WriteString(render(d.history(t, c.Topic, 3), true))
		b.WriteString(renderReceipts(must[[]messenger.Marker](t)(d.m.Receipts(c.Topic))))
	}
	for _, q := range []string{"hello", "bob", "hunter", "who", "saturday", "late", "club", "me", "typo", "password"} {
		fmt.Fprintf(&b, "search %q:\n", q)
		b.WriteString(render(must[[]messenger.Interaction](t)(d.m.Search(q, 20)), true))
	}
	return b.String()
}

// richChat is runChat, then what only a rebuild meets: payloads this
// version does not understand, written raw, and a cut-off — carol, removed
// from the group while alice had not seen her last messages, loses them on
// the devices that had them (a delete of her earlier question among them).
func richChat(t *testing.T, seed uint64) *chat {
	c := runChat(t, seed)
	w := c.w
	for _, body := range [][]byte{{0xff, 0xff, 0xff}, {}, mustMarshal(t, &payloadpb.Payload{Version: 2, SentAtMs: 1})} {
		if _, err := c.bob.n.Send(c.ab, body); err != nil {
			t.Fatal(err)
		}
	}
	w.run()

	c.alice.ep.SetOnline(false)
	c.alice2.ep.SetOnline(false)
	late := c.carol.text(t, c.gt, "late message, cut off", nil)
	ok(t, c.carol.m.React(c.gt, c.g3, "👎", false))
	ok(t, c.carol.m.Delete(c.gt, c.g1))
	w.run()
	if h := c.bob.history(t, c.gt, 50); find(t, h, late).Body == "" || !find(t, h, c.g1).Deleted {
		t.Fatal("bob did not get carol's last messages before her removal")
	}
	carol := must[[32]byte](t)(c.carol.n.MemberKey(c.gt))
	ok(t, c.alice.n.Remove(c.gt, carol))
	c.alice.ep.SetOnline(true)
	c.alice2.ep.SetOnline(true)
	w.run()
	for _, it := range c.bob.history(t, c.gt, 50) {
		if it.ID == late {
			t.Fatal("carol's message after the cut-off still shows on bob's device")
		}
	}
	return c
}

func mustMarshal(t *testing.T, p *payloadpb.Payload) []byte {
	t.Helper()
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRebuildIdentical rebuilds every device's tables after a rich chat:
// the tables come back byte for byte, and every view is the same. Then
// the same from an older schema, on open.
func TestRebuildIdentical(t *testing.T) {
	c := richChat(t, 3)
	for _, d := range []*dev{c.alice, c.alice2, c.bob, c.carol} {
		before, seen := dump(t, d.st, d.m, true), views(t, d)
		var total int
		ok(t, d.st.View(func(db *sql.DB) error { return db.QueryRow(`SELECT count(*) FROM messages`).Scan(&total) }))
		var calls [][2]int
		ok(t, d.m.Rebuild(func(done, total int) { calls = append(calls, [2]int{done, total}) }))
		checkProgress(t, d.name, calls, total)
		if after := dump(t, d.st, d.m, true); after != before {
			t.Errorf("%s: tables differ after a rebuild:\n%s", d.name, diff(before, after))
		}
		if after := views(t, d); after != seen {
			t.Errorf("%s: views differ after a rebuild:\n%s", d.name, diff(seen, after))
		}
	}
	olderSchemaRebuiltOnOpen(t, c)
}

// checkProgress checks a rebuild's progress reports: from 0 to the
// whole, never backwards, always of the same total.
func checkProgress(t *testing.T, who string, calls [][2]int, total int) {
	t.Helper()
	if len(calls) < 2 || calls[0] != [2]int{0, total} || calls[len(calls)-1] != [2]int{total, total} {
		t.Errorf("%s: progress %v, want from 0 to %d", who, calls, total)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] || calls[i][1] != total {
			t.Errorf("%s: progress %v goes backwards or changes its total", who, calls)
		}
	}
}

// diff shows the first lines where two dumps differ.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 12; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  - %s\n  + %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// TestRebuildProgress rebuilds more messages than one batch holds: a
// report per batch.
func TestRebuildProgress(t *testing.T) {
	w := newWorld(t, 4)
	alice := w.add("alice", nil)
	w.run()
	notes := must[[32]byte](t)(alice.n.CreateGroup("notes"))
	var bodies [][]byte
	for i := range 2001 {
		bodies = append(bodies, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: int64(i),
			Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: fmt.Sprintf("note number %d", i)}}}))
	}
	if _, err := alice.n.SendBatch(notes, bodies); err != nil {
		t.Fatal(err)
	}
	var total int
	ok(t, alice.st.View(func(db *sql.DB) error { return db.QueryRow(`SELECT count(*) FROM messages`).Scan(&total) }))
	var calls [][2]int
	ok(t, alice.m.Rebuild(func(done, total int) { calls = append(calls, [2]int{done, total}) }))
	checkProgress(t, alice.name, calls, total)
	if len(calls) < 3 {
		t.Errorf("progress %v: want a report per batch", calls)
	}
	if res := must[[]messenger.Interaction](t)(alice.m.Search("1999", 5)); len(res) != 1 || res[0].Body != "note number 1999" {
		t.Errorf("search after a rebuild: %+v", res)
	}
}

// olderSchemaRebuiltOnOpen: a database whose messenger tables are of an
// older version is rebuilt when the messenger opens it — here with the
// tables emptied too, so that only a rebuild gives the views back.
func olderSchemaRebuiltOnOpen(t *testing.T, c *chat) {
	for _, d := range []*dev{c.bob, c.alice2} {
		before, seen := dump(t, d.st, d.m, true), views(t, d)
		c.w.restart(d, func(db *sql.DB) error {
			for _, q := range []string{`UPDATE m_meta SET value = 0`, `DELETE FROM m_interactions`} {
				if _, err := db.Exec(q); err != nil {
					return err
				}
			}
			return nil
		})
		if after := dump(t, d.st, d.m, true); after != before {
			t.Errorf("%s: tables differ after the reopen:\n%s", d.name, diff(before, after))
		}
		if after := views(t, d); after != seen {
			t.Errorf("%s: views differ after the reopen:\n%s", d.name, diff(seen, after))
		}
	}
	// The restarted devices keep working.
	c.bob.text(t, c.ab, "back", nil)
	c.w.run()
	if h := c.alice2.history(t, c.ab, 50); h[len(h)-1].Body != "back" {
		t.Errorf("alice2's last message is %q after the restarts", h[len(h)-1].Body)
	}
}

// TestArrivalOrderDoesNotMatter replays what each device received, in
// other orders — reversed, effects before the messages they change,
// shuffled, with duplicates — into fresh stores: the messenger's tables
// (and the scrubbed texts) come out the same. Through the network this
// cannot be tested: an entry depends on what its author had seen (§4), so
// a node never hands over a reaction, an edit, a delete or a reply before
// its target; a replay is how the projection meets the other orders.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	c := runChat(t, 2)
	for _, d := range []*dev{c.alice2, c.bob, c.carol} {
		want := dump(t, d.st, d.m, false)
		orders := map[string][]int{"delivery": nil, "reversed": nil, "effects first": nil}
		for i := range d.got {
			orders["delivery"] = append(orders["delivery"], i)
		}
		orders["reversed"] = slices.Clone(orders["delivery"])
		slices.Reverse(orders["reversed"])
		orders["effects first"] = slices.Clone(orders["reversed"])
		slices.SortStableFunc(orders["effects first"], func(a, b int) int { return effect(d.got[b]) - effect(d.got[a]) })
		rng := rand.New(rand.NewPCG(uint64(len(d.got)), 2))
		for k := range 2 {
			o := slices.Clone(orders["delivery"])
			rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
			o = append(o, o[:len(o)/3]...) // a third delivered again
			orders[fmt.Sprintf("shuffle %d", k)] = o
		}
		if n := early(d.got, orders["delivery"]); n != 0 {
			t.Errorf("%s: the network handed over %d messages before what they refer to", d.name, n)
		}
		for _, name := range []string{"reversed", "effects first"} {
			if early(d.got, orders[name]) == 0 {
				t.Errorf("%s: the %s order puts nothing before what it refers to: not the case under test", d.name, name)
			}
		}
		for name, order := range orders {
			// One commit for all (effects and their targets meet inside
			// a commit), one per message (across commits), and 33 at a
			// time (a full chunk of the projection's INSERT and a rest).
			for _, batch := range []int{len(order), 1, 33} {
				got := replay(t, d, name, order, batch)
				if got != want {
					t.Errorf("%s, replayed in %s order, %d a commit: tables differ:\n%s", d.name, name, batch, diff(want, got))
				}
			}
		}
	}
}

// early counts the messages that come, in an order, before the message
// they refer to (what they react to, edit, delete, answer or mark read).
func early(msgs []store.Message, order []int) int {
	at := map[[32]byte]int{}
	for k, i := range order {
		if _, dup := at[msgs[i].ID]; !dup {
			at[msgs[i].ID] = k
		}
	}
	n := 0
	for k, i := range order {
		var p payloadpb.Payload
		if proto.Unmarshal(msgs[i].Body, &p) != nil {
			continue
		}
		var target []byte
		switch {
		case p.GetReaction() != nil:
			target = p.GetReaction().Target
		case p.GetEdit() != nil:
			target = p.GetEdit().Target
		case p.GetDelete() != nil:
			target = p.GetDelete().Target
		case p.GetText() != nil:
			target = p.GetText().ReplyTo
		case p.GetReceipt() != nil:
			target = append(p.GetReceipt().ReadUpTo, p.GetReceipt().DeliveredUpTo...)
		}
		if len(target) != 32 {
			continue
		}
		if j, ok := at[[32]byte(target)]; ok && j > k {
			n++
		}
	}
	return n
}

// effect is 1 for a message that changes another (reaction, edit, delete,
// receipt), 0 otherwise.
func effect(m store.Message) int {
	var p payloadpb.Payload
	if proto.Unmarshal(m.Body, &p) != nil {
		return 0
	}
	switch p.Kind.(type) {
	case *payloadpb.Payload_Reaction, *payloadpb.Payload_Edit, *payloadpb.Payload_Delete, *payloadpb.Payload_Receipt:
		return 1
	}
	return 0
}

// replay commits d's received messages in an order into a fresh store with
// the messenger installed, and dumps it. One commit holds them all (the
// projection takes a batch's messages one after the other, as it takes
// commits).
func replay(t *testing.T, d *dev, name string, order []int, batch int) string {
	t.Helper()
	st, err := sqlite.Open(fmt.Sprintf("%s/replay-%s-%s-%d.db", t.TempDir(), d.name, strings.ReplaceAll(name, " ", "-"), batch))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := messenger.New(st, messenger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for len(order) > 0 {
		b := &store.Batch{Recoverable: true}
		for _, i := range order[:min(batch, len(order))] {
			msg := d.got[i]
			msg.Body = slices.Clone(msg.Body)
			b.Messages = append(b.Messages, msg)
		}
		order = order[min(batch, len(order)):]
		if err := st.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	return dump(t, st, m, false)
}
