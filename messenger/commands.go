package messenger

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/messenger/payloadpb"
	"github.com/berty-go/berty/node"
)

// send encodes p (version 1, sent now) and sends it to a conversation.
func (m *Messenger) send(topic [32]byte, p *payloadpb.Payload) ([32]byte, error) {
	n, err := m.attached()
	if err != nil {
		return [32]byte{}, err
	}
	p.Version, p.SentAtMs = 1, m.now().UnixMilli()
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return [32]byte{}, err
	}
	msg, err := n.Send(topic, body)
	if errors.Is(err, node.ErrUnknownGroup) {
		return [32]byte{}, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
	}
	if err != nil {
		return [32]byte{}, err
	}
	return msg.ID, nil
}

func checkText(s string) error {
	if len(s) > MaxBody {
		return ErrTooLarge
	}
	if !utf8.ValidString(s) {
		return ErrBadText
	}
	if strings.TrimSpace(s) == "" {
		return ErrEmptyText
	}
	return nil
}

// SendText sends a text message, a reply if replyTo is set (a message of
// this conversation).
func (m *Messenger) SendText(topic [32]byte, body string, replyTo *[32]byte) ([32]byte, error) {
	if err := checkText(body); err != nil {
		return [32]byte{}, err
	}
	t := &payloadpb.Text{Body: body}
	if replyTo != nil {
		if _, err := m.lookup(topic, *replyTo); err != nil {
			return [32]byte{}, err
		}
		t.ReplyTo = replyTo[:]
	}
	return m.send(topic, &payloadpb.Payload{Kind: &payloadpb.Payload_Text{Text: t}})
}

// React adds (or, with remove, takes back) an emoji on a message.
func (m *Messenger) React(topic, target [32]byte, emoji string, remove bool) error {
	if !okEmoji(emoji) {
		return ErrBadEmoji
	}
	if _, err := m.lookup(topic, target); err != nil {
		return err
	}
	_, err := m.send(topic, &payloadpb.Payload{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: target[:], Emoji: emoji, Remove: remove}}})
	return err
}

// Edit replaces the text of one of this account's messages.
func (m *Messenger) Edit(topic, target [32]byte, body string) error {
	if err := checkText(body); err != nil {
		return err
	}
	if err := m.own(topic, target); err != nil {
		return err
	}
	_, err := m.send(topic, &payloadpb.Payload{Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: target[:], Body: body}}})
	return err
}

// Delete deletes one of this account's messages: its text is removed on
// every device of every member, a tombstone stays.
func (m *Messenger) Delete(topic, target [32]byte) error {
	if err := m.own(topic, target); errors.Is(err, ErrDeleted) {
		return nil // deleted already
	} else if err != nil {
		return err
	}
	_, err := m.send(topic, &payloadpb.Payload{Kind: &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: target[:]}}})
	return err
}

// MarkRead says this account has read a conversation up to a message: one
// receipt, sent only if it moves the account's marker forward.
func (m *Messenger) MarkRead(topic, upTo [32]byte) error {
	return m.receipt(topic, upTo, true)
}

// MarkDelivered says this device holds a conversation up to a message (a
// client sends it after showing a notification, say).
func (m *Messenger) MarkDelivered(topic, upTo [32]byte) error {
	return m.receipt(topic, upTo, false)
}

func (m *Messenger) receipt(topic, upTo [32]byte, read bool) error {
	n, err := m.attached()
	if err != nil {
		return err
	}
	c, err := m.lookup(topic, upTo)
	if err != nil {
		return err
	}
	me, err := n.MemberKey(topic)
	if err != nil {
		return err
	}
	var cur *Cursor
	err = m.st.View(func(db *sql.DB) error {
		cur, err = marker(db, topic, me, read)
		return err
	})
	if err != nil {
		return err
	}
	if cur != nil && !cursorLess(*cur, c) {
		return nil // already there
	}
	r := &payloadpb.Receipt{ReadUpTo: upTo[:]}
	if !read {
		r = &payloadpb.Receipt{DeliveredUpTo: upTo[:]}
	}
	_, err = m.send(topic, &payloadpb.Payload{Kind: &payloadpb.Payload_Receipt{Receipt: r}})
	return err
}

// Invite sends an invitation to a group in a 1:1 conversation.
func (m *Messenger) Invite(contactTopic, groupTopic [32]byte) error {
	n, err := m.attached()
	if err != nil {
		return err
	}
	gi, err := n.Group(groupTopic)
	if err != nil {
		return fmt.Errorf("%w %x", ErrUnknownConv, groupTopic[:4])
	}
	if gi.Kind != group.KindMulti {
		return ErrNotInvitation
	}
	// Check where it goes before n.Invite writes the invitation's record
	// in the group.
	if _, err := n.Group(contactTopic); err != nil {
		return fmt.Errorf("%w %x", ErrUnknownConv, contactTopic[:4])
	}
	inv, err := n.Invite(groupTopic)
	if err != nil {
		return err
	}
	_, err = m.send(contactTopic, &payloadpb.Payload{Kind: &payloadpb.Payload_GroupInvitation{
		GroupInvitation: &payloadpb.GroupInvitation{Invitation: inv.Encode(), GroupName: gi.Name}}})
	return err
}

// InvitationOf returns the encoded invitation an invitation message carries.
func (m *Messenger) InvitationOf(topic, id [32]byte) ([]byte, error) {
	var body []byte
	err := m.st.View(func(db *sql.DB) error {
		return db.QueryRow(`SELECT msg.body FROM m_interactions i JOIN messages msg ON msg.topic = i.topic AND msg.device = i.device AND msg.seq = i.seq
			WHERE i.topic = ? AND i.id = ? AND i.kind = ?`, topic[:], id[:], kindInvitation).Scan(&body)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoMessage
	}
	if err != nil {
		return nil, err
	}
	_, p := decode(body)
	if p == nil || p.GetGroupInvitation() == nil {
		return nil, ErrNoMessage
	}
	return p.GetGroupInvitation().Invitation, nil
}

// Mute silences a conversation until a time (zero: unmute), on all the
// account's devices.
func (m *Messenger) Mute(topic [32]byte, until time.Time) error {
	n, err := m.attached()
	if err != nil {
		return err
	}
	if _, err := m.Conversation(topic); err != nil {
		return err
	}
	var ms int64
	if !until.IsZero() {
		ms = until.UnixMilli()
	}
	_, err = m.send(n.AccountTopic(), &payloadpb.Payload{Kind: &payloadpb.Payload_Settings{Settings: &payloadpb.ConversationSettings{Topic: topic[:], MutedUntilMs: ms}}})
	return err
}

// lookup returns the place of a message of the conversation.
func (m *Messenger) lookup(topic, id [32]byte) (Cursor, error) {
	c := Cursor{ID: id}
	if n, err := m.attached(); err == nil {
		if _, err := n.Group(topic); errors.Is(err, node.ErrUnknownGroup) {
			return c, fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
		}
	}
	err := m.st.View(func(db *sql.DB) error {
		return db.QueryRow(`SELECT lamport FROM m_interactions WHERE topic = ? AND id = ? AND kind IN `+displayKinds, topic[:], id[:]).Scan(&c.Lamport)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNoMessage
	}
	return c, err
}

// own checks that a text of the conversation is this account's.
func (m *Messenger) own(topic, id [32]byte) error {
	n, err := m.attached()
	if err != nil {
		return err
	}
	me, err := n.MemberKey(topic)
	if err != nil {
		return fmt.Errorf("%w %x", ErrUnknownConv, topic[:4])
	}
	var author []byte
	var kind int
	var scrubbed bool
	err = m.st.View(func(db *sql.DB) error {
		return db.QueryRow(`SELECT member, kind, flag = 1 FROM m_interactions WHERE topic = ? AND id = ?`, topic[:], id[:]).Scan(&author, &kind, &scrubbed)
	})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && kind != kindText) {
		return ErrNoMessage
	}
	if err != nil {
		return err
	}
	if keys.Public(author) != me {
		return ErrNotAuthor
	}
	if scrubbed {
		return ErrDeleted
	}
	return nil
}
