package messenger

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger/payloadpb"
)

// FuzzDecode feeds decode what a peer could put in a message body. It
// must never panic; what it accepts must be within the limits the views
// rely on (§12): a known kind, valid UTF-8 within MaxBody and MaxEmoji,
// 32-byte IDs; and anything it does not accept is unsupported, with no
// payload returned.
func FuzzDecode(f *testing.F) {
	id := bytes.Repeat([]byte{7}, idSize)
	for _, p := range []*payloadpb.Payload{
		{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "hello"}}},
		{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "a reply", ReplyTo: id}}},
		{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{}}},
		{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: id, Emoji: "👍"}}},
		{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: id, Emoji: "👍", Remove: true}}},
		{Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: id, Body: "edited"}}},
		{Kind: &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: id}}},
		{Kind: &payloadpb.Payload_Receipt{Receipt: &payloadpb.Receipt{ReadUpTo: id}}},
		{Kind: &payloadpb.Payload_Receipt{Receipt: &payloadpb.Receipt{DeliveredUpTo: id}}},
		{Kind: &payloadpb.Payload_GroupInvitation{GroupInvitation: &payloadpb.GroupInvitation{Invitation: []byte{1, 2, 3}, GroupName: "crew"}}},
		{Kind: &payloadpb.Payload_Settings{Settings: &payloadpb.ConversationSettings{Topic: id, MutedUntilMs: 1 << 40}}},
	} {
		p.Version, p.SentAtMs = 1, 1700000000000
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	unknown := protowire.AppendTag([]byte{0x08, 0x01}, 99, protowire.BytesType)
	f.Add(protowire.AppendBytes(unknown, []byte("from the future")))
	f.Add([]byte{0x08, 0x02})
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, body []byte) {
		r, p := decode(body)
		okID := func(b []byte) bool { return len(b) == idSize }
		switch r.kind {
		case kindUnsupported:
			if p != nil {
				t.Fatalf("unsupported, but a payload came back: %v", p)
			}
			return
		case kindText, kindReaction, kindEdit, kindDelete, kindReceipt, kindInvitation, kindSettings:
		default:
			t.Fatalf("kind %d", r.kind)
		}
		if p == nil || p.Version != 1 {
			t.Fatalf("kind %d without a version-1 payload: %v", r.kind, p)
		}
		if r.body.Valid && (len(r.body.String) > MaxBody || !utf8.ValidString(r.body.String)) {
			t.Fatalf("kind %d with a body of %d bytes, valid UTF-8 %v", r.kind, len(r.body.String), utf8.ValidString(r.body.String))
		}
		if r.searchs && !r.body.Valid {
			t.Fatalf("kind %d indexed without a body", r.kind)
		}
		switch r.kind {
		case kindText:
			if !r.body.Valid || (r.target != nil && !okID(r.target)) {
				t.Fatalf("text %+v", r)
			}
		case kindReaction:
			if !okID(r.target) || !r.emoji.Valid || r.emoji.String == "" || len(r.emoji.String) > MaxEmoji || !utf8.ValidString(r.emoji.String) {
				t.Fatalf("reaction %+v", r)
			}
		case kindEdit:
			if !okID(r.target) || !r.body.Valid {
				t.Fatalf("edit %+v", r)
			}
		case kindDelete, kindReceipt, kindSettings:
			if !okID(r.target) {
				t.Fatalf("kind %d with target %x", r.kind, r.target)
			}
		case kindInvitation:
			inv := p.GetGroupInvitation()
			if inv == nil || len(inv.Invitation) == 0 || len(inv.Invitation) > 4096 {
				t.Fatalf("invitation %v", p)
			}
		}
		// Decoding is a function of the bytes: the projection and a rebuild
		// must agree.
		r2, _ := decode(bytes.Clone(body))
		if r2.kind != r.kind || r2.body != r.body || !bytes.Equal(r2.target, r.target) || r2.emoji != r.emoji || r2.flag != r.flag || r2.sentAt != r.sentAt {
			t.Fatalf("decoded twice: %+v, then %+v", r, r2)
		}
	})
}
