package mini

import (
	"context"
	"errors"

	"sync"

	"connectrpc.com/connect"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/api/bertyv1/bertyv1connect"
	"github.com/berty-go/berty/client"
)

// API is what the terminal client asks of a daemon: the calls of the
// berty.v1 services it uses, with their generated request and response
// types. *Remote (a daemon reached through package client) is the real
// implementation; the tests use an in-memory fake. Implementations must be
// safe for concurrent use: every call runs in its own goroutine.
type API interface {
	// NodeService
	AccountInfo(context.Context, *bv1.AccountInfoRequest) (*bv1.AccountInfoResponse, error)
	ContactLink(context.Context, *bv1.ContactLinkRequest) (*bv1.ContactLinkResponse, error)
	ContactRequest(context.Context, *bv1.ContactRequestRequest) (*bv1.ContactRequestResponse, error)
	ContactUpdate(context.Context, *bv1.ContactUpdateRequest) (*bv1.ContactUpdateResponse, error)
	ContactList(context.Context, *bv1.ContactListRequest) (*bv1.ContactListResponse, error)
	ContactVerify(context.Context, *bv1.ContactVerifyRequest) (*bv1.ContactVerifyResponse, error)
	GroupCreate(context.Context, *bv1.GroupCreateRequest) (*bv1.GroupCreateResponse, error)
	GroupInvite(context.Context, *bv1.GroupInviteRequest) (*bv1.GroupInviteResponse, error)
	GroupJoin(context.Context, *bv1.GroupJoinRequest) (*bv1.GroupJoinResponse, error)
	GroupLeave(context.Context, *bv1.GroupLeaveRequest) (*bv1.GroupLeaveResponse, error)
	GroupMembers(context.Context, *bv1.GroupMembersRequest) (*bv1.GroupMembersResponse, error)
	MemberRemove(context.Context, *bv1.MemberRemoveRequest) (*bv1.MemberRemoveResponse, error)
	MemberAdmit(context.Context, *bv1.MemberAdmitRequest) (*bv1.MemberAdmitResponse, error)
	GroupJoinApproval(context.Context, *bv1.GroupJoinApprovalRequest) (*bv1.GroupJoinApprovalResponse, error)
	Peers(context.Context, *bv1.PeersRequest) (*bv1.PeersResponse, error)

	// MessengerService
	SetProfile(context.Context, *bv1.SetProfileRequest) (*bv1.SetProfileResponse, error)
	Conversations(context.Context, *bv1.ConversationsRequest) (*bv1.ConversationsResponse, error)
	History(context.Context, *bv1.HistoryRequest) (*bv1.HistoryResponse, error)
	SendText(context.Context, *bv1.SendTextRequest) (*bv1.SendTextResponse, error)
	React(context.Context, *bv1.ReactRequest) (*bv1.ReactResponse, error)
	Edit(context.Context, *bv1.EditRequest) (*bv1.EditResponse, error)
	Delete(context.Context, *bv1.DeleteRequest) (*bv1.DeleteResponse, error)
	MarkRead(context.Context, *bv1.MarkReadRequest) (*bv1.MarkReadResponse, error)
	Mute(context.Context, *bv1.MuteRequest) (*bv1.MuteResponse, error)
	Search(context.Context, *bv1.SearchRequest) (*bv1.SearchResponse, error)
	// Subscribe opens the event stream; it ends when ctx does.
	Subscribe(ctx context.Context) (Stream, error)
}

// Stream is a server stream of events, as connect's ServerStreamForClient
// is one: Receive until it returns false, then Err (nil when the stream
// ended cleanly), then Close.
type Stream interface {
	Receive() bool
	Msg() *bv1.SubscribeResponse
	Err() error
	Close() error
}

// Remote is the API of a daemon reached through package client. It is
// safe for concurrent use.
type Remote struct {
	dir string
	mu  sync.Mutex
	c   *client.Client // guarded by mu: Redial replaces it
}

var _ API = (*Remote)(nil)

// Dial connects to the daemon serving the data directory dir.
func Dial(dir string) (*Remote, error) {
	c, err := client.Dial(dir)
	if err != nil {
		return nil, err
	}
	return &Remote{dir: dir, c: c}, nil
}

// Redial connects again, reading the socket and the token anew: a daemon
// that restarted has a new token, and every call with the old one fails.
func (r *Remote) Redial() error {
	c, err := client.Dial(r.dir)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.c
	r.c = c
	r.mu.Unlock()
	old.Close()
	return nil
}

// Close releases the connections.
func (r *Remote) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c.Close()
}

func (r *Remote) node() bertyv1connect.NodeServiceClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Node
}

func (r *Remote) messenger() bertyv1connect.MessengerServiceClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Messenger
}

// NodeService, passed through.

func (r *Remote) AccountInfo(ctx context.Context, q *bv1.AccountInfoRequest) (*bv1.AccountInfoResponse, error) {
	return r.node().AccountInfo(ctx, q)
}

func (r *Remote) ContactLink(ctx context.Context, q *bv1.ContactLinkRequest) (*bv1.ContactLinkResponse, error) {
	return r.node().ContactLink(ctx, q)
}

func (r *Remote) ContactRequest(ctx context.Context, q *bv1.ContactRequestRequest) (*bv1.ContactRequestResponse, error) {
	return r.node().ContactRequest(ctx, q)
}

func (r *Remote) ContactUpdate(ctx context.Context, q *bv1.ContactUpdateRequest) (*bv1.ContactUpdateResponse, error) {
	return r.node().ContactUpdate(ctx, q)
}

func (r *Remote) ContactList(ctx context.Context, q *bv1.ContactListRequest) (*bv1.ContactListResponse, error) {
	return r.node().ContactList(ctx, q)
}

func (r *Remote) ContactVerify(ctx context.Context, q *bv1.ContactVerifyRequest) (*bv1.ContactVerifyResponse, error) {
	return r.node().ContactVerify(ctx, q)
}

func (r *Remote) GroupCreate(ctx context.Context, q *bv1.GroupCreateRequest) (*bv1.GroupCreateResponse, error) {
	return r.node().GroupCreate(ctx, q)
}

func (r *Remote) GroupInvite(ctx context.Context, q *bv1.GroupInviteRequest) (*bv1.GroupInviteResponse, error) {
	return r.node().GroupInvite(ctx, q)
}

func (r *Remote) GroupJoin(ctx context.Context, q *bv1.GroupJoinRequest) (*bv1.GroupJoinResponse, error) {
	return r.node().GroupJoin(ctx, q)
}

func (r *Remote) GroupLeave(ctx context.Context, q *bv1.GroupLeaveRequest) (*bv1.GroupLeaveResponse, error) {
	return r.node().GroupLeave(ctx, q)
}

func (r *Remote) GroupMembers(ctx context.Context, q *bv1.GroupMembersRequest) (*bv1.GroupMembersResponse, error) {
	return r.node().GroupMembers(ctx, q)
}

func (r *Remote) MemberRemove(ctx context.Context, q *bv1.MemberRemoveRequest) (*bv1.MemberRemoveResponse, error) {
	return r.node().MemberRemove(ctx, q)
}

func (r *Remote) MemberAdmit(ctx context.Context, q *bv1.MemberAdmitRequest) (*bv1.MemberAdmitResponse, error) {
	return r.node().MemberAdmit(ctx, q)
}

func (r *Remote) GroupJoinApproval(ctx context.Context, q *bv1.GroupJoinApprovalRequest) (*bv1.GroupJoinApprovalResponse, error) {
	return r.node().GroupJoinApproval(ctx, q)
}

func (r *Remote) Peers(ctx context.Context, q *bv1.PeersRequest) (*bv1.PeersResponse, error) {
	return r.node().Peers(ctx, q)
}

// MessengerService, passed through.

func (r *Remote) SetProfile(ctx context.Context, q *bv1.SetProfileRequest) (*bv1.SetProfileResponse, error) {
	return r.messenger().SetProfile(ctx, q)
}

func (r *Remote) Conversations(ctx context.Context, q *bv1.ConversationsRequest) (*bv1.ConversationsResponse, error) {
	return r.messenger().Conversations(ctx, q)
}

func (r *Remote) History(ctx context.Context, q *bv1.HistoryRequest) (*bv1.HistoryResponse, error) {
	return r.messenger().History(ctx, q)
}

func (r *Remote) SendText(ctx context.Context, q *bv1.SendTextRequest) (*bv1.SendTextResponse, error) {
	return r.messenger().SendText(ctx, q)
}

func (r *Remote) React(ctx context.Context, q *bv1.ReactRequest) (*bv1.ReactResponse, error) {
	return r.messenger().React(ctx, q)
}

func (r *Remote) Edit(ctx context.Context, q *bv1.EditRequest) (*bv1.EditResponse, error) {
	return r.messenger().Edit(ctx, q)
}

func (r *Remote) Delete(ctx context.Context, q *bv1.DeleteRequest) (*bv1.DeleteResponse, error) {
	return r.messenger().Delete(ctx, q)
}

func (r *Remote) MarkRead(ctx context.Context, q *bv1.MarkReadRequest) (*bv1.MarkReadResponse, error) {
	return r.messenger().MarkRead(ctx, q)
}

func (r *Remote) Mute(ctx context.Context, q *bv1.MuteRequest) (*bv1.MuteResponse, error) {
	return r.messenger().Mute(ctx, q)
}

func (r *Remote) Search(ctx context.Context, q *bv1.SearchRequest) (*bv1.SearchResponse, error) {
	return r.messenger().Search(ctx, q)
}

func (r *Remote) Subscribe(ctx context.Context) (Stream, error) {
	return r.messenger().Subscribe(ctx, &bv1.SubscribeRequest{})
}

// errText is what a person reads of an API error: the daemon's message,
// which is written for people, without connect's code prefix.
func errText(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		if m := ce.Message(); m != "" {
			return m
		}
		return ce.Code().String()
	}
	return err.Error()
}

// unreachable reports whether err says the daemon cannot be reached (or
// no longer takes our token: it restarted).
func unreachable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeUnauthenticated:
		return true
	}
	return false
}
