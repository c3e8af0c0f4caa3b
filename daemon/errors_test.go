package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/messenger"
)

func random32(t *testing.T) []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// wantAPIError checks an API error's code and that its message says what
// a person needs (want, a substring).
func wantAPIError(t *testing.T, what string, err error, code connect.Code, want string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Errorf("%s: got %v, want %v", what, err, code)
		return
	}
	if ce.Code() != code {
		t.Errorf("%s: got %v (%s), want %v", what, ce.Code(), ce.Message(), code)
	}
	if !strings.Contains(ce.Message(), want) {
		t.Errorf("%s: the message %q does not contain %q", what, ce.Message(), want)
	}
}

// TestErrorCatalogue: errors from one daemon's own state and from bad
// requests reach the client with their catalogue code and a message meant
// for a person (docs/api.md).
func TestErrorCatalogue(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, m := d.c.Node, d.c.Messenger
	own, err := n.ContactLink(ctx, &bv1.ContactLinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := n.GroupCreate(ctx, &bv1.GroupCreateRequest{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	_, garbage := link.ParseContact("garbage")
	if garbage == nil {
		t.Fatal(`link.ParseContact("garbage") succeeded`)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code connect.Code
		want string
	}{
		{"SendText to an unknown topic", func() error {
			_, err := m.SendText(ctx, &bv1.SendTextRequest{Topic: random32(t), Body: "hi"})
			return err
		}, connect.CodeNotFound, messenger.ErrUnknownConv.Error()},
		{"SendText to a 5-byte topic", func() error {
			_, err := m.SendText(ctx, &bv1.SendTextRequest{Topic: []byte("short"), Body: "hi"})
			return err
		}, connect.CodeInvalidArgument, "topic must be 32 bytes"},
		{"SendText too large", func() error {
			_, err := m.SendText(ctx, &bv1.SendTextRequest{Topic: gc.Topic, Body: strings.Repeat("x", messenger.MaxBody+1)})
			return err
		}, connect.CodeInvalidArgument, messenger.ErrTooLarge.Error()},
		{"SendText replying to an unknown message", func() error {
			_, err := m.SendText(ctx, &bv1.SendTextRequest{Topic: gc.Topic, Body: "hi", ReplyTo: random32(t)})
			return err
		}, connect.CodeNotFound, messenger.ErrNoMessage.Error()},
		{"History with a 5-byte topic", func() error {
			_, err := m.History(ctx, &bv1.HistoryRequest{Topic: []byte("short")})
			return err
		}, connect.CodeInvalidArgument, "topic"},
		{"Edit of an unknown message", func() error {
			_, err := m.Edit(ctx, &bv1.EditRequest{Topic: gc.Topic, Target: random32(t), Body: "x"})
			return err
		}, connect.CodeNotFound, messenger.ErrNoMessage.Error()},
		{"React with an empty emoji", func() error {
			_, err := m.React(ctx, &bv1.ReactRequest{Topic: gc.Topic, Target: random32(t)})
			return err
		}, connect.CodeInvalidArgument, "reaction"},
		{"ContactRequest with a garbage link", func() error {
			_, err := n.ContactRequest(ctx, &bv1.ContactRequestRequest{Link: "garbage"})
			return err
		}, connect.CodeInvalidArgument, garbage.Error()},
		{"ContactRequest with one's own link", func() error {
			_, err := n.ContactRequest(ctx, &bv1.ContactRequestRequest{Link: own.Url})
			return err
		}, connect.CodeInvalidArgument, "your own contact link"},
		{"GroupJoin with a contact link", func() error {
			_, err := n.GroupJoin(ctx, &bv1.GroupJoinRequest{Link: own.Url})
			return err
		}, connect.CodeInvalidArgument, ""},
		{"ContactUpdate of a 5-byte account", func() error {
			_, err := n.ContactUpdate(ctx, &bv1.ContactUpdateRequest{Account: []byte("short"), Action: bv1.ContactUpdateRequest_ACTION_ACCEPT})
			return err
		}, connect.CodeInvalidArgument, "account must be 32 bytes"},
		{"ContactUpdate with no action", func() error {
			_, err := n.ContactUpdate(ctx, &bv1.ContactUpdateRequest{Account: random32(t)})
			return err
		}, connect.CodeInvalidArgument, "action"},
		{"accepting a request nobody sent", func() error {
			_, err := n.ContactUpdate(ctx, &bv1.ContactUpdateRequest{Account: random32(t), Action: bv1.ContactUpdateRequest_ACTION_ACCEPT})
			return err
		}, connect.CodeNotFound, "no such contact request"},
		{"GroupInvite of an unknown topic", func() error {
			_, err := n.GroupInvite(ctx, &bv1.GroupInviteRequest{Topic: random32(t)})
			return err
		}, connect.CodeNotFound, ""},
	} {
		wantAPIError(t, tc.name, tc.call(), tc.code, tc.want)
	}
}

// until waits for ok, re-checking it after every event of the daemon's
// stream (subscribed before the first check, so none is missed).
func (d *testDaemon) until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := d.c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	defer stream.Close()
	if ok() {
		return
	}
	for stream.Receive() {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s (%v)", what, stream.Err())
}

// TestPermissionDenied: in a group of two daemons, bob may neither edit nor
// delete alice's message (PermissionDenied), and alice's message is intact.
func TestPermissionDenied(t *testing.T) {
	alice := startDaemon(t, config(t, filepath.Join(t.TempDir(), "alice"), "alice"))
	info, err := alice.c.Node.AccountInfo(t.Context(), &bv1.AccountInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, filepath.Join(t.TempDir(), "bob"), "bob")
	cfg.Net.Peers = info.Listen
	bob := startDaemon(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	gc, err := alice.c.Node.GroupCreate(ctx, &bv1.GroupCreateRequest{Name: "friends"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.c.Node.GroupInvite(ctx, &bv1.GroupInviteRequest{Topic: gc.Topic})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.Node.GroupJoin(ctx, &bv1.GroupJoinRequest{Link: inv.Url}); err != nil {
		t.Fatal(err)
	}
	// alice writes once she knows bob is in, as a client does: what a
	// member writes before it has read a join is not handed to the joiner
	// (docs/protocol.md §9, "a late-seen member").
	alice.until(t, "bob in alice's group", func() bool {
		m, err := alice.c.Node.GroupMembers(ctx, &bv1.GroupMembersRequest{Topic: gc.Topic})
		if err != nil {
			t.Fatal(err)
		}
		return len(m.Members) == 2
	})
	sent, err := alice.c.Messenger.SendText(ctx, &bv1.SendTextRequest{Topic: gc.Topic, Body: "alice's words"})
	if err != nil {
		t.Fatal(err)
	}
	history := func(d *testDaemon) []*bv1.Interaction {
		h, err := d.c.Messenger.History(ctx, &bv1.HistoryRequest{Topic: gc.Topic})
		if err != nil {
			t.Fatal(err)
		}
		return h.Interactions
	}
	bob.until(t, "alice's message at bob", func() bool {
		for _, it := range history(bob) {
			if bytes.Equal(it.Id, sent.Id) {
				return true
			}
		}
		return false
	})

	_, err = bob.c.Messenger.Edit(ctx, &bv1.EditRequest{Topic: gc.Topic, Target: sent.Id, Body: "bob's words"})
	wantAPIError(t, "bob edits alice's message", err, connect.CodePermissionDenied, messenger.ErrNotAuthor.Error())
	_, err = bob.c.Messenger.Delete(ctx, &bv1.DeleteRequest{Topic: gc.Topic, Target: sent.Id})
	wantAPIError(t, "bob deletes alice's message", err, connect.CodePermissionDenied, messenger.ErrNotAuthor.Error())
	for _, d := range []*testDaemon{alice, bob} {
		h := history(d)
		if len(h) != 1 || h[0].Body != "alice's words" || h[0].Edited || h[0].Deleted {
			t.Errorf("the conversation after bob's refused edit and delete: %v", h)
		}
	}
}
