package messenger_test

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// The benchmarks of docs/benchmarks.md, "Messenger". Most of them read one
// large conversation, which takes a while to write (about 40 s for 100 000
// messages): it is built once per test binary, by the first benchmark that
// needs it, so a plain `go test` (no -bench) never builds it. Run them with
//
//	go test -run='^$' -bench=. -benchtime=2s -count=3 ./messenger
//
// and add `-args -bench.messages=10000` for a smaller conversation.

var benchMessages = flag.Int("bench.messages", 100_000, "messages in the benchmarks' conversation")

const (
	benchBatch    = 1000       // payloads per SendBatch while building
	benchManyWord = "meeting"  // a vocabulary word: many texts hold it
	benchFewWord  = "zanzibar" // planted in one text in 4 000
	benchTwoWords = "meeting tomorrow"
)

// benchVocabulary is what the texts are made of, most frequent first (drawn
// with a Zipf law), so that a search finds many or few matches.
var benchVocabulary = strings.Fields(`
	the to i you a and it is that of in for we on be this have are
	meeting tomorrow can just do not with will at so what but ok was
	today about time get all know if me think see go like my from your
	yes no call later when good now one how there here back need people
	sure thanks work week going night then morning update project send
	file check lunch dinner coffee train late early soon maybe great
	nice idea plan again first last next new old start end done ready
	still already working home office city weekend monday friday photo
	link video message phone number address ticket flight hotel doctor
	class school game music movie book read write review draft notes
	budget report slides agenda minutes team client deadline launch
	release build test bug fix merge branch deploy server backup key`)

var benchEmojis = []string{"👍", "❤️", "😂", "🎉", "😮", "🙏"}

// benchCorpus is the built conversation: a contact conversation in which the
// writer (alice) wrote every payload and the reader (bob) received them
// and read up to about 1 000 messages before the end.
type benchCorpus struct {
	dir            string
	writer, reader string // database paths
	topic          [32]byte
	messages       int // payloads in the conversation
	texts          int // of which texts (replies included)
	mix            map[string]int
	build          time.Duration
}

var (
	benchCorpusOnce sync.Once
	benchCorpusVal  *benchCorpus
	benchCorpusErr  error
)

// benchLoadCorpus returns the conversation, building it on first use in a
// directory kept for the life of the process (the next process removes it).
func benchLoadCorpus(b *testing.B) *benchCorpus {
	b.Helper()
	benchCorpusOnce.Do(func() {
		benchCorpusVal, benchCorpusErr = benchBuildCorpus(*benchMessages)
		if benchCorpusErr == nil {
			c := benchCorpusVal
			fmt.Fprintf(os.Stderr, "messenger: built a conversation of %d messages (%v) in %v\n",
				c.messages, c.mix, c.build.Round(time.Millisecond))
		}
	})
	if benchCorpusErr != nil {
		b.Fatal(benchCorpusErr)
	}
	return benchCorpusVal
}

const benchDirPrefix = "berty-messenger-bench-"

// benchDir makes the process's directory, removing those of earlier
// processes that have exited: without a TestMain there is no hook at the
// end of the run to remove it.
func benchDir() (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), benchDirPrefix+"*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), benchDirPrefix))
		if err != nil || pid == os.Getpid() {
			continue
		}
		// Signal 0 tells whether the process exists (on Unix; elsewhere
		// every earlier directory is taken for abandoned).
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			continue
		}
		os.RemoveAll(d)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d", benchDirPrefix, os.Getpid()))
	return dir, os.MkdirAll(dir, 0o700)
}

// benchDev is one device for benchmarks: a store, its messenger (nil for
// a plain node) and a node.
type benchDev struct {
	st *sqlite.Store
	m  *messenger.Messenger
	n  *node.Node
}

// benchOpenDev opens the account at path; with withMessenger false the node
// runs on the plain store, with no projector. t may be nil.
func benchOpenDev(path, name string, t node.Transport, withMessenger bool) (*benchDev, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	d := &benchDev{st: st}
	cfg := node.Config{Store: st, Name: name}
	if t != nil {
		cfg.Transport = t
	}
	if withMessenger {
		if d.m, err = messenger.New(st, messenger.Config{}); err != nil {
			st.Close()
			return nil, err
		}
		cfg.Deliver, cfg.Events = d.m.Handlers()
	}
	if d.n, err = node.Open(cfg); err != nil {
		if d.m != nil {
			d.m.Close()
		}
		st.Close()
		return nil, err
	}
	if d.m != nil {
		d.m.Attach(d.n)
	}
	return d, nil
}

func (d *benchDev) close() {
	d.n.Close()
	if d.m != nil {
		d.m.Close()
	}
	d.st.Close()
}

// benchOpen opens a device of the corpus for one benchmark.
func benchOpen(b *testing.B, path string) *benchDev {
	b.Helper()
	d, err := benchOpenDev(path, "", nil, true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.close)
	return d
}

// benchPayloads writes a realistic mix of payloads, with their targets among
// the texts already sent (record them with sent).
type benchPayloads struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	clock int64    // sent_at, ms
	texts [][]byte // IDs of the texts sent so far
	isTxt []bool   // of the last batch: which payloads are texts
	count map[string]int
}

func newBenchPayloads(seed uint64) *benchPayloads {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &benchPayloads{
		rng:   rng,
		zipf:  rand.NewZipf(rng, 1.1, 2, uint64(len(benchVocabulary)-1)),
		clock: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC).UnixMilli(),
		count: map[string]int{},
	}
}

// text is 20 to 200 characters of vocabulary words.
func (g *benchPayloads) text() string {
	n := 20 + g.rng.IntN(181)
	var sb strings.Builder
	for sb.Len() < n {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(benchVocabulary[g.zipf.Uint64()])
	}
	if g.rng.IntN(4000) == 0 {
		return benchFewWord + " " + sb.String()[:n-len(benchFewWord)-1]
	}
	return sb.String()[:n]
}

// target is an earlier text, most often a recent one.
func (g *benchPayloads) target() []byte {
	n := len(g.texts)
	if g.rng.IntN(4) == 0 {
		return g.texts[g.rng.IntN(n)]
	}
	return g.texts[n-1-g.rng.IntN(min(n, 200))]
}

// batch returns n encoded payloads: per thousand, about 100 replies, 80
// reactions (one in five a removal), 30 edits, 5 deletes and 1 payload of
// a future version; the rest plain texts.
func (g *benchPayloads) batch(n int) [][]byte {
	bodies := make([][]byte, 0, n)
	g.isTxt = g.isTxt[:0]
	for range n {
		g.clock += int64(1 + g.rng.IntN(120_000))
		p := &payloadpb.Payload{Version: 1, SentAtMs: g.clock}
		kind := "text"
		r := g.rng.IntN(1000)
		switch {
		case len(g.texts) == 0 || r >= 216:
			p.Kind = &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: g.text()}}
		case r < 1:
			kind, p.Version = "future", 2
			p.Kind = &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: g.text()}}
		case r < 6:
			kind = "delete"
			p.Kind = &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: g.target()}}
		case r < 36:
			kind = "edit"
			p.Kind = &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: g.target(), Body: g.text()}}
		case r < 116:
			kind = "reaction"
			p.Kind = &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{
				Target: g.target(), Emoji: benchEmojis[g.rng.IntN(len(benchEmojis))], Remove: g.rng.IntN(5) == 0}}
		default:
			kind = "reply"
			p.Kind = &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: g.text(), ReplyTo: g.target()}}
		}
		g.count[kind]++
		body, err := proto.Marshal(p)
		if err != nil {
			panic(err)
		}
		bodies = append(bodies, body)
		g.isTxt = append(g.isTxt, kind == "text" || kind == "reply")
	}
	return bodies
}

// sent records the IDs of the last batch's texts.
func (g *benchPayloads) sent(ids [][32]byte) {
	for i, id := range ids {
		if g.isTxt[i] {
			g.texts = append(g.texts, id[:])
		}
	}
}

func benchBuildCorpus(size int) (*benchCorpus, error) {
	t0 := time.Now()
	dir, err := benchDir()
	if err != nil {
		return nil, err
	}
	c := &benchCorpus{dir: dir, writer: filepath.Join(dir, "alice.db"), reader: filepath.Join(dir, "bob.db")}
	hub := memnet.New(1, 0, 256)
	hub.SetWindow(1)
	attach := func(d **benchDev) *memnet.Endpoint {
		return hub.Attach(func(topic [32]byte, raws [][]byte) error {
			_, err := (*d).n.Receive(topic, raws)
			return err
		})
	}
	var alice, bob *benchDev
	if alice, err = benchOpenDev(c.writer, "alice", attach(&alice), true); err != nil {
		return nil, err
	}
	defer alice.close()
	if bob, err = benchOpenDev(c.reader, "bob", attach(&bob), true); err != nil {
		return nil, err
	}
	defer bob.close()
	if c.topic, err = alice.n.AddContact(bob.n.AccountKey(), "bob"); err != nil {
		return nil, err
	}
	if _, err := bob.n.AddContact(alice.n.AccountKey(), "alice"); err != nil {
		return nil, err
	}
	if err := hub.Run(); err != nil {
		return nil, err
	}

	g := newBenchPayloads(1)
	var readUpTo [32]byte // the last text more than ~1 000 messages from the end
	for sent := 0; sent < size; sent += benchBatch {
		bodies := g.batch(min(benchBatch, size-sent))
		ms, err := alice.n.SendBatch(c.topic, bodies)
		if err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		ids := make([][32]byte, len(ms))
		for i := range ms {
			ids[i] = ms[i].ID
		}
		g.sent(ids)
		if sent+len(bodies) <= size-1000 {
			copy(readUpTo[:], g.texts[len(g.texts)-1])
		}
		if err := hub.Run(); err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
	}
	if err := bob.m.MarkRead(c.topic, readUpTo); err != nil {
		return nil, fmt.Errorf("mark read: %w", err)
	}
	if err := hub.Run(); err != nil {
		return nil, err
	}
	for _, d := range []*benchDev{alice, bob} {
		// Leave the search index complete, as an idle device has it.
		if err := d.m.IndexPending(); err != nil {
			return nil, err
		}
		n, err := d.st.CountMessages(c.topic)
		if err != nil {
			return nil, err
		}
		if n != size+1 {
			return nil, fmt.Errorf("%s holds %d messages of %d", d.n.Name(), n, size+1)
		}
	}
	c.messages, c.texts, c.mix = size, len(g.texts), g.count
	c.build = time.Since(t0)
	return c, nil
}

// BenchmarkOpenConversation measures what a UI does when it opens the
// conversation of 100 000 messages: the conversation list (last message,
// unread count, mute) and the newest page of 50. On the writer's device
// every message is its own and it has no read marker; on the reader's,
// about 1 000 messages follow its read marker.
func BenchmarkOpenConversation(b *testing.B) {
	c := benchLoadCorpus(b)
	for _, dev := range []struct{ name, path string }{{"writer", c.writer}, {"reader", c.reader}} {
		b.Run("device="+dev.name, func(b *testing.B) {
			d := benchOpen(b, dev.path)
			unread := -1
			for b.Loop() {
				cs, err := d.m.Conversations()
				if err != nil {
					b.Fatal(err)
				}
				page, err := d.m.History(c.topic, nil, 50)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) != 1 || cs[0].Topic != c.topic || len(page) != 50 {
					b.Fatalf("%d conversations, a page of %d", len(cs), len(page))
				}
				unread = cs[0].Unread
			}
			b.ReportMetric(float64(unread), "unread")
		})
	}
}

// BenchmarkSearch searches the 100 000 messages (on the reader's device)
// for a word many texts hold, a word few hold and two words, 20 results.
func BenchmarkSearch(b *testing.B) {
	c := benchLoadCorpus(b)
	d := benchOpen(b, c.reader)
	for _, q := range []struct{ name, query string }{{"many", benchManyWord}, {"few", benchFewWord}, {"two", benchTwoWords}} {
		b.Run("word="+q.name, func(b *testing.B) {
			// One search outside the timing: it also catches the index up.
			if _, err := d.m.Search(q.query, 20); err != nil {
				b.Fatal(err)
			}
			matches := benchCountMatches(b, d.st, q.query)
			want := min(20, matches)
			for b.Loop() {
				res, err := d.m.Search(q.query, 20)
				if err != nil {
					b.Fatal(err)
				}
				if len(res) < want-2 { // a few matches may be deleted or edited away
					b.Fatalf("%d results, %d index matches", len(res), matches)
				}
			}
			b.ReportMetric(float64(matches), "matches")
		})
	}
}

// benchCountMatches counts the index's matches of a query's words (prefixes,
// ANDed), as the messenger's search does before it checks edits.
func benchCountMatches(b *testing.B, st *sqlite.Store, query string) int {
	var parts []string
	for _, w := range strings.Fields(query) {
		parts = append(parts, `"`+w+`"*`)
	}
	var n int
	err := st.View(func(db *sql.DB) error {
		return db.QueryRow(`SELECT count(*) FROM m_search WHERE m_search MATCH ?`, strings.Join(parts, " ")).Scan(&n)
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRebuild rebuilds the messenger's tables of the writer's device
// (a copy) from its 100 000 messages, counting progress callbacks.
func BenchmarkRebuild(b *testing.B) {
	c := benchLoadCorpus(b)
	path := filepath.Join(b.TempDir(), "copy.db")
	if err := benchCopyFile(c.writer, path); err != nil {
		b.Fatal(err)
	}
	d := benchOpen(b, path)
	calls, total := 0, 0
	start := time.Now()
	for b.Loop() {
		calls = 0
		err := d.m.Rebuild(func(done, all int) {
			calls++
			total = all
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if total < c.messages {
		b.Fatalf("rebuilt %d messages, want at least %d", total, c.messages)
	}
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(calls), "callbacks")
}

func benchCopyFile(from, to string) error {
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.Open(from + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			return err
		}
		dst, err := os.Create(to + suffix)
		if err != nil {
			src.Close()
			return err
		}
		_, err = io.Copy(dst, src)
		src.Close()
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// benchGroup opens a new account in a temporary directory, with or without
// the messenger, and creates a group to write to (its only member).
func benchGroup(b *testing.B, withMessenger bool) (*benchDev, [32]byte) {
	b.Helper()
	d, err := benchOpenDev(filepath.Join(b.TempDir(), "a.db"), "alice", nil, withMessenger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.close)
	topic, err := d.n.CreateGroup("bench")
	if err != nil {
		b.Fatal(err)
	}
	return d, topic
}

// BenchmarkSendText measures one SendText — encode, the node's send, the
// durable commit (one fsync) and the projection — against node.Send of the
// same encoded payload on a store with no messenger.
func BenchmarkSendText(b *testing.B) {
	g := newBenchPayloads(2)
	text := g.text()
	b.Run("messenger", func(b *testing.B) {
		d, topic := benchGroup(b, true)
		for b.Loop() {
			if _, err := d.m.SendText(topic, text, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		d, topic := benchGroup(b, false)
		body, err := proto.Marshal(&payloadpb.Payload{Version: 1, SentAtMs: g.clock,
			Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: text}}})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := d.n.Send(topic, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkProjectBatch sends 100 payloads of the benchmarks' mix in one
// SendBatch (one commit), with the messenger projecting them and on a plain
// store: the difference is the projection's cost per message.
func BenchmarkProjectBatch(b *testing.B) {
	const batch = 100
	for _, withMessenger := range []bool{true, false} {
		name := "plain"
		if withMessenger {
			name = "messenger"
		}
		b.Run(name, func(b *testing.B) {
			d, topic := benchGroup(b, withMessenger)
			g := newBenchPayloads(3)
			var elapsed time.Duration
			for b.Loop() {
				bodies := g.batch(batch)
				t0 := time.Now()
				ms, err := d.n.SendBatch(topic, bodies)
				elapsed += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				ids := make([][32]byte, len(ms))
				for i := range ms {
					ids[i] = ms[i].ID
				}
				g.sent(ids)
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*batch)/1000, "µs/msg")
		})
	}
}
