package mini

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/core/safety"
)

// fake is an in-memory daemon: what the tests put in its fields is what
// the API returns, and every call is recorded.
type fake struct {
	mu       sync.Mutex
	info     *bv1.AccountInfoResponse
	convs    []*bv1.Conversation
	hist     map[string][]*bv1.Interaction // by topic, newest first
	contacts []*bv1.Contact
	members  map[string][]*bv1.Member
	// joinsNeedApproval is what GroupMembers says of every group.
	joinsNeedApproval bool
	peers             *bv1.PeersResponse
	errs              map[string]error // by method: the error it returns
	calls             []string
	events            chan *bv1.SubscribeResponse
	link              string // the contact link's URL ("": a short one)
	// onAccept, if set, runs when a contact request is accepted (f.mu held).
	onAccept func(account []byte)
}

func newFake() *fake {
	return &fake{
		info: &bv1.AccountInfoResponse{Name: "alice", AccountKey: id32(0xa1), DeviceKey: id32(0xd1),
			PeerId: "12D3KooWalice", Listen: []string{"/ip4/127.0.0.1/tcp/4001"}},
		hist:    map[string][]*bv1.Interaction{},
		members: map[string][]*bv1.Member{},
		peers:   &bv1.PeersResponse{},
		errs:    map[string]error{},
		events:  make(chan *bv1.SubscribeResponse),
	}
}

func id32(b byte) []byte { return slices.Repeat([]byte{b}, 32) }

// record notes a call and returns the error set for it.
func (f *fake) record(method string, args ...any) error {
	f.calls = append(f.calls, strings.TrimSpace(method+" "+fmt.Sprint(args...)))
	return f.errs[method]
}

// called returns the recorded calls of one method.
func (f *fake) called(method string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c == method || strings.HasPrefix(c, method+" ") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fake) set(fn func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// clone copies a response, as the wire would: the model must not share
// the fake's state.
func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

func (f *fake) AccountInfo(context.Context, *bv1.AccountInfoRequest) (*bv1.AccountInfoResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.info), f.record("AccountInfo")
}

func (f *fake) ContactLink(context.Context, *bv1.ContactLinkRequest) (*bv1.ContactLinkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	url := f.link
	if url == "" {
		url = "https://berty.tech/id#ALICELINK"
	}
	return &bv1.ContactLinkResponse{Url: url, Compact: "BERTY:" + strings.TrimPrefix(url, "https://berty.tech/id#")}, f.record("ContactLink")
}

func (f *fake) ContactRequest(_ context.Context, q *bv1.ContactRequestRequest) (*bv1.ContactRequestResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ContactRequest", q.Link); err != nil {
		return nil, err
	}
	return &bv1.ContactRequestResponse{Account: id32(0xb0), State: bv1.ContactState_CONTACT_STATE_OUTGOING}, nil
}

// fakeNumber is the safety number the fake gives every contact.
const fakeNumber = "123451234512345123451234512345678906789067890678906789067890"

// ContactVerify answers with fakeNumber, checks a typed number against it
// as the node does, and records verifications on the contact.
func (f *fake) ContactVerify(_ context.Context, q *bv1.ContactVerifyRequest) (*bv1.ContactVerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ContactVerify", shortHex(q.Account), " ", q.Number, q.Confirm, q.Clear); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.contacts, func(c *bv1.Contact) bool { return string(c.Account) == string(q.Account) })
	if i < 0 {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such contact request from %x", q.Account))
	}
	c := f.contacts[i]
	if q.Number != "" {
		if n, err := safety.Parse(q.Number); err != nil || n != fakeNumber {
			return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("the safety numbers differ"))
		}
	}
	switch {
	case q.Clear:
		c.Verified, c.VerificationChanged = false, false
	case q.Number != "" || q.Confirm:
		c.Verified, c.VerificationChanged = true, false
	}
	return &bv1.ContactVerifyResponse{Number: fakeNumber, Code: safety.Code(fakeNumber), Verified: c.Verified, Changed: c.VerificationChanged}, nil
}

// ContactUpdate moves a contact between the states of docs/protocol.md
// §11.6, as the node does, with the node's errors.
func (f *fake) ContactUpdate(_ context.Context, q *bv1.ContactUpdateRequest) (*bv1.ContactUpdateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ContactUpdate", shortHex(q.Account), " ", q.Action); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.contacts, func(c *bv1.Contact) bool { return string(c.Account) == string(q.Account) })
	if i < 0 && q.Action == bv1.ContactUpdateRequest_ACTION_BLOCK { // any account can be blocked
		f.contacts = append(f.contacts, &bv1.Contact{Account: q.Account})
		i = len(f.contacts) - 1
	}
	if i < 0 {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such contact request from %x", q.Account))
	}
	c := f.contacts[i]
	is := func(states ...bv1.ContactState) bool { return slices.Contains(states, c.State) }
	var ok bool
	var next bv1.ContactState
	switch q.Action {
	case bv1.ContactUpdateRequest_ACTION_ACCEPT:
		ok, next = is(bv1.ContactState_CONTACT_STATE_INCOMING, bv1.ContactState_CONTACT_STATE_DISCARDED), bv1.ContactState_CONTACT_STATE_ACCEPTED
	case bv1.ContactUpdateRequest_ACTION_DISCARD:
		ok, next = is(bv1.ContactState_CONTACT_STATE_INCOMING), bv1.ContactState_CONTACT_STATE_DISCARDED
	case bv1.ContactUpdateRequest_ACTION_CANCEL:
		ok, next = is(bv1.ContactState_CONTACT_STATE_OUTGOING, bv1.ContactState_CONTACT_STATE_SENT), bv1.ContactState_CONTACT_STATE_NONE
	case bv1.ContactUpdateRequest_ACTION_BLOCK:
		ok, next = true, bv1.ContactState_CONTACT_STATE_BLOCKED
	case bv1.ContactUpdateRequest_ACTION_UNBLOCK:
		ok, next = is(bv1.ContactState_CONTACT_STATE_BLOCKED), bv1.ContactState_CONTACT_STATE_NONE
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("bad request: unknown action %v", q.Action))
	}
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such contact request from %x: the contact is %v", q.Account, c.State))
	}
	c.State = next
	if next != bv1.ContactState_CONTACT_STATE_ACCEPTED {
		// Only an accepted contact's conversation is listed.
		f.convs = slices.DeleteFunc(f.convs, func(v *bv1.Conversation) bool { return string(v.Contact) == string(q.Account) })
	}
	if next == bv1.ContactState_CONTACT_STATE_ACCEPTED && f.onAccept != nil {
		f.onAccept(q.Account)
	}
	return &bv1.ContactUpdateResponse{State: next}, nil
}

func (f *fake) ContactList(context.Context, *bv1.ContactListRequest) (*bv1.ContactListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(&bv1.ContactListResponse{Contacts: f.contacts}), f.record("ContactList")
}

func (f *fake) GroupCreate(_ context.Context, q *bv1.GroupCreateRequest) (*bv1.GroupCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := id32(byte(0x60 + len(f.convs)))
	f.convs = append([]*bv1.Conversation{{Topic: t, Name: q.Name, Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP}}, f.convs...)
	return &bv1.GroupCreateResponse{Topic: t}, f.record("GroupCreate", q.Name)
}

func (f *fake) GroupInvite(_ context.Context, q *bv1.GroupInviteRequest) (*bv1.GroupInviteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &bv1.GroupInviteResponse{Url: "https://berty.tech/group#" + shortHex(q.Topic), Compact: "BERTY:G"}, f.record("GroupInvite", shortHex(q.Topic))
}

func (f *fake) GroupJoin(_ context.Context, q *bv1.GroupJoinRequest) (*bv1.GroupJoinResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GroupJoin", q.Link); err != nil {
		return nil, err
	}
	t := id32(0x70)
	f.convs = append(f.convs, &bv1.Conversation{Topic: t, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	return &bv1.GroupJoinResponse{Topic: t, Name: "club"}, nil
}

func (f *fake) GroupLeave(_ context.Context, q *bv1.GroupLeaveRequest) (*bv1.GroupLeaveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GroupLeave", shortHex(q.Topic)); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.convs, func(c *bv1.Conversation) bool { return string(c.Topic) == string(q.Topic) })
	if i < 0 || f.convs[i].Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("not a group"))
	}
	f.convs = slices.Delete(f.convs, i, i+1)
	delete(f.hist, string(q.Topic))
	return &bv1.GroupLeaveResponse{}, nil
}

func (f *fake) GroupMembers(_ context.Context, q *bv1.GroupMembersRequest) (*bv1.GroupMembersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(&bv1.GroupMembersResponse{Members: f.members[string(q.Topic)], JoinsNeedApproval: f.joinsNeedApproval}), f.record("GroupMembers", shortHex(q.Topic))
}

// MemberRemove marks a member removed, with the replica's errors: an admin
// may remove anyone, any member only itself.
func (f *fake) MemberRemove(_ context.Context, q *bv1.MemberRemoveRequest) (*bv1.MemberRemoveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("MemberRemove", shortHex(q.Topic), " ", shortHex(q.Member)); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(f.convs, func(c *bv1.Conversation) bool { return string(c.Topic) == string(q.Topic) }) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown group"))
	}
	var me, target *bv1.Member
	for _, mb := range f.members[string(q.Topic)] {
		if mb.Self {
			me = mb
		}
		if string(mb.Key) == string(q.Member) {
			target = mb
		}
	}
	switch {
	case me == nil || me.Removed:
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("not a member of this group"))
	case target == nil || target.Removed:
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such member"))
	case !me.Admin && target != me:
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("only an admin can do this"))
	}
	target.Removed = true
	return &bv1.MemberRemoveResponse{}, nil
}

// MemberAdmit lets in (a member, no longer waiting) or drops a waiting
// join; only an admin may.
func (f *fake) MemberAdmit(_ context.Context, q *bv1.MemberAdmitRequest) (*bv1.MemberAdmitResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("MemberAdmit", shortHex(q.Topic), " ", shortHex(q.Member), map[bool]string{true: " decline", false: ""}[q.Decline]); err != nil {
		return nil, err
	}
	ms := f.members[string(q.Topic)]
	if i := slices.IndexFunc(ms, func(mb *bv1.Member) bool { return mb.Self }); i < 0 || !ms[i].Admin {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("only an admin can do this"))
	}
	i := slices.IndexFunc(ms, func(mb *bv1.Member) bool { return mb.Awaiting && string(mb.Key) == string(q.Member) })
	if i < 0 {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no join of this member waits for an admin's approval"))
	}
	if q.Decline {
		f.members[string(q.Topic)] = slices.Delete(ms, i, i+1)
	} else {
		ms[i].Awaiting = false
	}
	return &bv1.MemberAdmitResponse{}, nil
}

// GroupJoinApproval records the setting; only an admin may.
func (f *fake) GroupJoinApproval(_ context.Context, q *bv1.GroupJoinApprovalRequest) (*bv1.GroupJoinApprovalResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GroupJoinApproval", shortHex(q.Topic), map[bool]string{true: " on", false: " off"}[q.Required]); err != nil {
		return nil, err
	}
	ms := f.members[string(q.Topic)]
	if i := slices.IndexFunc(ms, func(mb *bv1.Member) bool { return mb.Self }); i < 0 || !ms[i].Admin {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("only an admin can do this"))
	}
	f.joinsNeedApproval = q.Required
	return &bv1.GroupJoinApprovalResponse{}, nil
}

func (f *fake) Peers(context.Context, *bv1.PeersRequest) (*bv1.PeersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.peers), f.record("Peers")
}

func (f *fake) SetProfile(_ context.Context, q *bv1.SetProfileRequest) (*bv1.SetProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SetProfile", q.Name); err != nil {
		return nil, err
	}
	f.info = &bv1.AccountInfoResponse{Name: q.Name, AccountKey: f.info.AccountKey, DeviceKey: f.info.DeviceKey}
	return &bv1.SetProfileResponse{}, nil
}

func (f *fake) Conversations(context.Context, *bv1.ConversationsRequest) (*bv1.ConversationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(&bv1.ConversationsResponse{Conversations: f.convs}), f.record("Conversations")
}

func (f *fake) History(_ context.Context, q *bv1.HistoryRequest) (*bv1.HistoryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(&bv1.HistoryResponse{Interactions: f.hist[string(q.Topic)]}), f.record("History", shortHex(q.Topic))
}

func (f *fake) SendText(_ context.Context, q *bv1.SendTextRequest) (*bv1.SendTextResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SendText", shortHex(q.Topic), " ", q.Body, " ", shortHex(q.ReplyTo)); err != nil {
		return nil, err
	}
	id := id32(byte(len(f.calls)))
	f.hist[string(q.Topic)] = append([]*bv1.Interaction{{Topic: q.Topic, Id: id, Name: f.info.Name, Own: true, Body: q.Body,
		Kind: bv1.InteractionKind_INTERACTION_KIND_TEXT, SentAtMs: at(9, 0).UnixMilli()}}, f.hist[string(q.Topic)]...)
	return &bv1.SendTextResponse{Id: id}, nil
}

func (f *fake) React(_ context.Context, q *bv1.ReactRequest) (*bv1.ReactResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &bv1.ReactResponse{}, f.record("React", shortHex(q.Target), " ", q.Emoji, " ", q.Remove)
}

// own returns one of alice's texts, or the error the daemon would return.
func (f *fake) own(topic, target []byte) (*bv1.Interaction, error) {
	for _, it := range f.hist[string(topic)] {
		if string(it.Id) != string(target) {
			continue
		}
		if !it.Own {
			return nil, connect.NewError(connect.CodePermissionDenied, errors.New("not the author of the message"))
		}
		return it, nil
	}
	return nil, connect.NewError(connect.CodeNotFound, errors.New("no such message"))
}

func (f *fake) Edit(_ context.Context, q *bv1.EditRequest) (*bv1.EditResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Edit", shortHex(q.Topic), " ", shortHex(q.Target), " ", q.Body); err != nil {
		return nil, err
	}
	it, err := f.own(q.Topic, q.Target)
	if err != nil {
		return nil, err
	}
	it.Body, it.Edited = q.Body, true
	return &bv1.EditResponse{}, nil
}

func (f *fake) Delete(_ context.Context, q *bv1.DeleteRequest) (*bv1.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Delete", shortHex(q.Topic), " ", shortHex(q.Target)); err != nil {
		return nil, err
	}
	it, err := f.own(q.Topic, q.Target)
	if err != nil {
		return nil, err
	}
	it.Body, it.Deleted = "", true
	return &bv1.DeleteResponse{}, nil
}

// Search matches a case-insensitive substring of the texts of every
// conversation, newest first (the daemon ranks full-text matches instead:
// the model must not depend on the order).
func (f *fake) Search(_ context.Context, q *bv1.SearchRequest) (*bv1.SearchResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Search", q.Query, " ", q.Limit); err != nil {
		return nil, err
	}
	var out []*bv1.Interaction
	for _, its := range f.hist {
		for _, it := range its {
			if !it.Deleted && it.Kind == bv1.InteractionKind_INTERACTION_KIND_TEXT &&
				strings.Contains(strings.ToLower(it.Body), strings.ToLower(q.Query)) {
				out = append(out, it)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *bv1.Interaction) int {
		if c := cmp.Compare(b.SentAtMs, a.SentAtMs); c != 0 {
			return c
		}
		return bytes.Compare(a.Id, b.Id) // f.hist is a map: a stable order for equal times
	})
	if q.Limit > 0 && len(out) > int(q.Limit) {
		out = out[:q.Limit]
	}
	return clone(&bv1.SearchResponse{Interactions: out}), nil
}

func (f *fake) MarkRead(_ context.Context, q *bv1.MarkReadRequest) (*bv1.MarkReadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &bv1.MarkReadResponse{}, f.record("MarkRead", shortHex(q.Topic), " ", shortHex(q.UpTo))
}

// Mute records the call and sets the conversation's mute, as the
// messenger does.
func (f *fake) Mute(_ context.Context, q *bv1.MuteRequest) (*bv1.MuteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Mute", shortHex(q.Topic), " ", q.UntilMs > 0); err != nil {
		return nil, err
	}
	for _, c := range f.convs {
		if string(c.Topic) == string(q.Topic) {
			c.MutedUntilMs = q.UntilMs
		}
	}
	return &bv1.MuteResponse{}, nil
}

func (f *fake) Subscribe(ctx context.Context) (Stream, error) {
	return &fakeStream{ctx: ctx, ch: f.events}, nil
}

// fakeStream receives what the test sends on ch, until ctx ends.
type fakeStream struct {
	ctx context.Context
	ch  chan *bv1.SubscribeResponse
	msg *bv1.SubscribeResponse
}

func (s *fakeStream) Receive() bool {
	select {
	case <-s.ctx.Done():
		return false
	case s.msg = <-s.ch:
		return true
	}
}
func (s *fakeStream) Msg() *bv1.SubscribeResponse { return s.msg }
func (s *fakeStream) Err() error                  { return nil }
func (s *fakeStream) Close() error                { return nil }

// at is a time on the tests' day.
func at(h, m int) time.Time { return time.Date(2026, 5, 1, h, m, 0, 0, time.Local) }

// newModel returns a model on f, its first reads done, at 80x24.
func newModel(t *testing.T, f *fake) *Model {
	t.Helper()
	m := New(ModelConfig{API: f, Dir: "/data/alice", Mode: "embedded node", Now: func() time.Time { return at(12, 0) }})
	drive(t, m, m.Init())
	drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return m
}

// drive runs what the model asks, as Bubble Tea would but in order on this
// goroutine: cmd's messages go to Update, and so do those of the commands
// Update returns, until none is left. It reports whether one was tea.Quit.
func drive(t *testing.T, m *Model, first any) (quit bool) {
	t.Helper()
	var queue []tea.Msg
	var run func(c tea.Cmd)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		switch msg := c().(type) {
		case tea.BatchMsg:
			for _, c := range msg {
				run(c)
			}
		case tea.QuitMsg:
			quit = true
		case nil:
		default:
			queue = append(queue, msg)
		}
	}
	switch first := first.(type) {
	case tea.Cmd:
		run(first)
	case nil:
	default:
		queue = append(queue, first)
	}
	for n := 0; len(queue) > 0; n++ {
		if n > 1000 {
			t.Fatal("the model keeps asking for more: a loop")
		}
		msg := queue[0]
		queue = queue[1:]
		_, c := m.Update(msg)
		run(c)
	}
	return quit
}

// typeText types s into the model, then enter.
func typeText(t *testing.T, m *Model, s string) (quit bool) {
	t.Helper()
	for _, r := range s {
		drive(t, m, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return drive(t, m, tea.KeyPressMsg{Code: tea.KeyEnter})
}

func press(t *testing.T, m *Model, code rune) bool {
	t.Helper()
	return drive(t, m, tea.KeyPressMsg{Code: code})
}

var ansiSeq = regexp.MustCompile(`\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)`)

// screen is the model's view as a person reads it: no escape sequences.
func screen(m *Model) string { return ansiSeq.ReplaceAllString(m.View().Content, "") }
