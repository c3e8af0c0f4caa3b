// Package messenger gives the protocol's opaque messages their meaning for a
// chat UI (docs/protocol.md §12): text, replies, reactions, edits, deletes,
// receipts, group invitations, conversation settings — and the views a UI
// needs: conversations with their last message and unread count, pages of
// history, full-text search, and a stream of update events.
//
// # Where things live
//
// Payloads are versioned protobuf (package payloadpb, proto/ at the root).
// The messenger's tables sit in the account's SQLite database beside the
// protocol's and are a projection of its messages table, written in the
// same transaction as the messages (a sqlite.Projector): a crash never
// separates them, and Rebuild drops and rewrites them identically. What a
// view shows — an edited text, a tombstone, reaction counts, read markers —
// is computed when it is read, from one row per message, so the delivery
// order never matters: every device of every member sees the same thing.
//
// # Use
//
// Open the store, call New (it installs the projector and creates the
// tables), open the node with Config.Deliver/Events from Handlers, then
// Attach the node. Send through the messenger's commands (SendText, React,
// Edit, Delete, MarkRead, Invite, Mute), read through its views, and
// Subscribe for updates.
package messenger

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// Errors callers branch on; their texts are for people.
var (
	ErrNotAuthor     = errors.New("you can only edit or delete your own messages")
	ErrNoMessage     = errors.New("no such message in this conversation")
	ErrTooLarge      = fmt.Errorf("message too large: at most %d bytes of text", MaxBody)
	ErrBadText       = errors.New("text must be valid UTF-8")
	ErrBadEmoji      = fmt.Errorf("a reaction is an emoji (at most %d bytes), not words", MaxEmoji)
	ErrEmptyText     = errors.New("the text is empty: write something (to take a message back, delete it)")
	ErrDeleted       = errors.New("that message is deleted")
	ErrBadLimit      = errors.New("a page size must be 1 or more (0 or more around a message)")
	ErrNotAttached   = errors.New("messenger: no node attached")
	ErrUnknownConv   = errors.New("unknown conversation")
	ErrNotInvitation = errors.New("that conversation is not a group: only groups have invitations")
)

// Messenger is one account's messenger. It is safe for concurrent use.
type Messenger struct {
	st   *sqlite.Store
	now  func() time.Time
	proj *projector

	mu   sync.Mutex // guards node and subs
	node *node.Node
	subs map[int]func(Event)
	next int

	// The background indexer (index.go): dirty is signalled after
	// commits with messages; stop and indexed end it.
	dirty, stop, indexed chan struct{}
	closeOnce            sync.Once
}

// Config configures New.
type Config struct {
	// Now is the clock of the sent-at times (nil: time.Now).
	Now func() time.Time
}

// New installs the messenger on an account's store: its tables (created,
// or rebuilt from the messages if they are of an older version) and its
// projector, and starts its search indexer. Call it before node.Open; Close
// it before closing the store.
func New(st *sqlite.Store, cfg Config) (*Messenger, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Messenger{st: st, now: cfg.Now, subs: map[int]func(Event){},
		dirty: make(chan struct{}, 1), stop: make(chan struct{}), indexed: make(chan struct{})}
	var version int
	err := st.View(func(db *sql.DB) error {
		err := db.QueryRow(`SELECT value FROM m_meta WHERE key = 'schema'`).Scan(&version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			version = 0 // no table yet
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if version != schemaVersion {
		if err := m.Rebuild(nil); err != nil {
			return nil, err
		}
	}
	// The statements need the tables: prepare them once these exist.
	err = st.View(func(db *sql.DB) error {
		var err error
		m.proj, err = newProjector(db)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	m.proj.dirty = m.dirty
	st.SetProjector(m.proj)
	go m.runIndexer()
	return m, nil
}

// Attach connects the opened node: commands send through it.
func (m *Messenger) Attach(n *node.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.node = n
}

func (m *Messenger) attached() (*node.Node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return nil, ErrNotAttached
	}
	return m.node, nil
}

// EventKind says what an Event is about.
type EventKind int

// Event kinds.
const (
	ConversationUpdated EventKind = iota + 1 // new message, read marker, settings, name
	InteractionUpdated                       // a message, or what shows on it (edit, delete, reaction)
	MemberUpdated                            // a member joined, left, was removed or renamed
	ContactUpdated                           // a contact request or state changed
)

func (k EventKind) String() string {
	switch k {
	case ConversationUpdated:
		return "conversation"
	case InteractionUpdated:
		return "interaction"
	case MemberUpdated:
		return "member"
	case ContactUpdated:
		return "contact"
	}
	return "unknown"
}

// Event is an update for a UI: re-read what it names.
type Event struct {
	Kind  EventKind
	Topic [32]byte // the conversation (zero for ContactUpdated)
	ID    [32]byte // the interaction (InteractionUpdated): for an edit, reaction or delete, the message it changes
}

// Subscribe calls fn for every event until the returned cancel is called.
// fn runs on the node's delivery path: it must return quickly and must not
// call into the messenger or the node (queue the work instead).
func (m *Messenger) Subscribe(fn func(Event)) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.next
	m.next++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

func (m *Messenger) emit(ev Event) {
	m.mu.Lock()
	subs := make([]func(Event), 0, len(m.subs))
	for _, fn := range m.subs {
		subs = append(subs, fn)
	}
	m.mu.Unlock()
	for _, fn := range subs {
		fn(ev)
	}
}

// Handlers returns the node callbacks that feed the event stream; pass
// them in node.Config (Deliver, Events).
func (m *Messenger) Handlers() (deliver func(node.Delivery), events func([32]byte, replica.Event)) {
	deliver = func(d node.Delivery) {
		r, _ := decode(d.Message.Body)
		id := d.Message.ID
		if len(r.target) == idSize && (r.kind == kindEdit || r.kind == kindDelete || r.kind == kindReaction) {
			copy(id[:], r.target)
		}
		m.emit(Event{Kind: InteractionUpdated, Topic: d.Topic, ID: id})
		m.emit(Event{Kind: ConversationUpdated, Topic: d.Topic})
	}
	events = func(topic [32]byte, ev replica.Event) {
		switch ev.Kind {
		case replica.EventMemberJoined, replica.EventMemberRemoved, replica.EventDeviceRevoked, replica.EventProfile:
			m.emit(Event{Kind: MemberUpdated, Topic: topic})
		case replica.EventKeySucceeded:
			// A contact's key moved on: its key and safety number changed
			// (docs/protocol.md §5.9, §11.8).
			m.emit(Event{Kind: ContactUpdated})
		}
	}
	return deliver, events
}

// ContactsChanged tells subscribers that contacts changed (the device's
// contact-request loop calls it).
func (m *Messenger) ContactsChanged() { m.emit(Event{Kind: ContactUpdated}) }
