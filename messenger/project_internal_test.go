package messenger

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
)

// TestProjectChunks: deletes that arrived before their texts scrub them
// wherever the texts fall in a commit's chunks of the projection (the
// first, the middle and the last of a full chunk, and the rest), and only
// the author's delete counts. A text delivered twice in one commit makes
// one row.
var (
	testTopic      = [32]byte{1}
	alice, bob     = [32]byte{0xa}, [32]byte{0xb}
	testTextBody   = &payloadpb.Payload{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "hello"}}}
	testEditedBody = "hello, edited"
)

// openProjection is a messenger on a fresh SQLite file.
func openProjection(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := New(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return st
}

// authoring makes each member's messages in testTopic, with seqs and
// Lamport clocks counting up per member and IDs that tell them apart.
func authoring(t testing.TB) func(member [32]byte, p *payloadpb.Payload) store.Message {
	seq := map[[32]byte]uint64{}
	return func(member [32]byte, p *payloadpb.Payload) store.Message {
		p = proto.Clone(p).(*payloadpb.Payload)
		seq[member]++
		p.Version, p.SentAtMs = 1, int64(seq[member])
		body, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		id := [32]byte{member[0], byte(seq[member]), byte(seq[member] >> 8)}
		return store.Message{Topic: testTopic, Device: member, Seq: seq[member], Member: member, Lamport: seq[member], ID: id, Body: body}
	}
}

func deleteOf(target [32]byte) *payloadpb.Payload {
	return &payloadpb.Payload{Kind: &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: target[:]}}}
}

func TestProjectChunks(t *testing.T) {
	st := openProjection(t)
	msg := authoring(t)
	del := func(member [32]byte, target [32]byte) store.Message { return msg(member, deleteOf(target)) }
	// alice's 70 texts: IDs are predictable, so the deletes can go first.
	const n = 70
	var texts []store.Message
	for range n {
		texts = append(texts, msg(alice, testTextBody))
	}
	deleted := []int{0, 15, 31, 32, 50, 63, 64, 69} // chunks of 32: [0,32) [32,64) then the rest
	var early []store.Message
	for _, i := range deleted {
		early = append(early, del(alice, texts[i].ID))
	}
	early = append(early, del(bob, texts[1].ID)) // not bob's to delete
	if err := st.Commit(&store.Batch{Messages: early}); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(&store.Batch{Messages: append(slices.Clone(texts), texts[3])}); err != nil {
		t.Fatal(err)
	}
	var got []int
	rows := 0
	err := st.View(func(db *sql.DB) error {
		rs, err := db.Query(`SELECT seq, flag FROM m_interactions WHERE kind = ? AND member = ? ORDER BY seq`, kindText, alice[:])
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var s, flag int
			if err := rs.Scan(&s, &flag); err != nil {
				return err
			}
			rows++
			if flag == 1 {
				got = append(got, s-1) // text i is alice's seq i+1
			}
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("%d rows for alice's %d texts", rows, n)
	}
	if !slices.Equal(got, deleted) {
		t.Errorf("scrubbed texts %v, want %v", got, deleted)
	}
}

// TestDeleteOfAnEditChangesNothing: a delete names a text (§12.2); one that
// names an edit is kept but changes nothing, whichever arrives first.
func TestDeleteOfAnEditChangesNothing(t *testing.T) {
	msg := authoring(t)
	text := msg(alice, testTextBody)
	edit := msg(alice, &payloadpb.Payload{Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: text.ID[:], Body: testEditedBody}}})
	del := msg(alice, deleteOf(edit.ID))
	for name, order := range map[string][]store.Message{
		"delete last":  {text, edit, del},
		"delete first": {del, text, edit},
	} {
		st := openProjection(t)
		for _, m := range order {
			if err := st.Commit(&store.Batch{Messages: []store.Message{m}}); err != nil {
				t.Fatal(err)
			}
		}
		var scrubbed int
		var body string
		err := st.View(func(db *sql.DB) error {
			if err := db.QueryRow(`SELECT count(*) FROM m_interactions WHERE flag = 1 AND kind IN (?, ?)`, kindText, kindEdit).Scan(&scrubbed); err != nil {
				return err
			}
			return db.QueryRow(`SELECT body FROM m_interactions WHERE id = ?`, edit.ID[:]).Scan(&body)
		})
		if err != nil {
			t.Fatal(err)
		}
		if scrubbed != 0 || body != testEditedBody {
			t.Errorf("%s: %d rows scrubbed, the edit reads %q: want none and %q", name, scrubbed, body, testEditedBody)
		}
	}
}

// TestInterruptedRebuildResumes: a rebuild cut short after its first batch
// (here a panic in the progress callback; a crash or a full disk alike)
// leaves the tables incomplete, and the next open rebuilds them: every
// message shows again.
func TestInterruptedRebuildResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	msg := authoring(t)
	n := rebuildBatch*2 + 10
	var all []store.Message
	for range n {
		all = append(all, msg(alice, testTextBody))
	}
	if err := st.Commit(&store.Batch{Messages: all}); err != nil {
		t.Fatal(err)
	}
	rows := func(st *sqlite.Store) (n int) {
		t.Helper()
		if err := st.View(func(db *sql.DB) error {
			return db.QueryRow(`SELECT count(*) FROM m_interactions`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the rebuild was not interrupted")
			}
		}()
		m.Rebuild(func(done, total int) {
			if done > 0 {
				panic("interrupted")
			}
		})
	}()
	if got := rows(st); got != rebuildBatch {
		t.Fatalf("%d rows after the interrupted rebuild, want its first batch, %d", got, rebuildBatch)
	}
	m.Close()
	st.Close()

	st, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err = New(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := rows(st); got != n {
		t.Fatalf("%d rows after reopening, want all %d messages", got, n)
	}
}

func TestOKEmoji(t *testing.T) {
	for _, e := range []string{"👍", "👍🏽", "1️⃣", "#️⃣", "*⃣", "🏳️‍🌈", "🇫🇷", "❤️", "©️", "☺", "👩‍👩‍👧", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
		"‼️", "⁉️", "↔️", "ℹ️", "〰️", "〽️", "™️"} {
		if !okEmoji(e) {
			t.Errorf("%q refused", e)
		}
	}
	for _, e := range []string{"", "a", "ok", "1", "#", "12⃣", "1️", "👍a", " ", "👍 ", "\xff", "\u202e👍", "👍👍👍👍👍👍👍👍👍", "a️", "\u0301️"} {
		if okEmoji(e) {
			t.Errorf("%q accepted", e)
		}
	}
}
