// Package daemon serves one device — its node, messenger and libp2p host —
// over the berty.v1 API (api/berty/v1): Connect, gRPC and gRPC-Web on one
// handler, with server reflection, behind a bearer token. `berty daemon`
// runs it; the CLI, `berty mini` and the end-to-end tests talk to it through
// package client. docs/api.md describes the services, the error catalogue
// and the data directory.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
)

// Server implements the API's services over one running device. It is safe
// for concurrent use (the device's parts are).
type Server struct {
	dev  *device.Device
	log  *slog.Logger
	done chan struct{} // closed at shutdown: streams end
	once sync.Once
}

// shutdown ends the streams (Subscribe, Tail follow) so that the daemon's
// shutdown does not wait for their clients to go away.
func (s *Server) shutdown() { s.once.Do(func() { close(s.done) }) }

// NewServer returns the services of a device. The device must run its
// messenger.
func NewServer(d *device.Device, log *slog.Logger) (*Server, error) {
	if d.Messenger == nil {
		return nil, fmt.Errorf("daemon: the device runs no messenger")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{dev: d, log: log, done: make(chan struct{})}, nil
}

func key32(b []byte, what string) ([32]byte, error) {
	if len(b) != 32 {
		return [32]byte{}, fmt.Errorf("%w: %s must be 32 bytes, got %d", errBadRequest, what, len(b))
	}
	return [32]byte(b), nil
}

// AccountInfo implements NodeService.
func (s *Server) AccountInfo(ctx context.Context, _ *bv1.AccountInfoRequest) (*bv1.AccountInfoResponse, error) {
	n := s.dev.Node
	ak, fk, dk := n.AccountKey(), n.FirstAccountKey(), n.DeviceKey()
	resp := &bv1.AccountInfoResponse{AccountKey: ak[:], FirstAccountKey: fk[:], DeviceKey: dk[:], Name: n.Name(),
		PeerId: s.dev.Host.ID().String(), Listen: s.dev.Host.Addrs()}
	for _, d := range n.Devices() {
		k := d.Key
		resp.Devices = append(resp.Devices, &bv1.Device{Key: k[:], Self: d.Self, Revoked: d.Revoked})
	}
	return resp, nil
}

// ContactLink implements NodeService.
func (s *Server) ContactLink(ctx context.Context, req *bv1.ContactLinkRequest) (*bv1.ContactLinkResponse, error) {
	get := s.dev.ContactLink
	if req.Reset_ {
		get = s.dev.ResetContactLink
	}
	l, err := get()
	if err != nil {
		return nil, s.apiError("ContactLink", err)
	}
	return &bv1.ContactLinkResponse{Url: l.URL(), Compact: l.Compact()}, nil
}

// ContactRequest implements NodeService.
func (s *Server) ContactRequest(ctx context.Context, req *bv1.ContactRequestRequest) (*bv1.ContactRequestResponse, error) {
	l, err := link.ParseContact(req.Link)
	if err != nil {
		return nil, s.apiError("ContactRequest", err)
	}
	st, err := s.dev.RequestContact(l)
	if err != nil {
		return nil, s.apiError("ContactRequest", err)
	}
	return &bv1.ContactRequestResponse{Account: l.Account[:], State: bv1.ContactState(st)}, nil
}

// ContactUpdate implements NodeService.
func (s *Server) ContactUpdate(ctx context.Context, req *bv1.ContactUpdateRequest) (*bv1.ContactUpdateResponse, error) {
	acc, err := key32(req.Account, "account")
	if err != nil {
		return nil, s.apiError("ContactUpdate", err)
	}
	n := s.dev.Node
	switch req.Action {
	case bv1.ContactUpdateRequest_ACTION_ACCEPT:
		err = n.AcceptContact(acc)
	case bv1.ContactUpdateRequest_ACTION_DISCARD:
		err = n.DiscardContact(acc)
	case bv1.ContactUpdateRequest_ACTION_CANCEL:
		err = n.CancelContactRequest(acc)
	case bv1.ContactUpdateRequest_ACTION_BLOCK:
		err = n.BlockContact(acc)
	case bv1.ContactUpdateRequest_ACTION_UNBLOCK:
		err = n.UnblockContact(acc)
	default:
		err = fmt.Errorf("%w: unknown action %v", errBadRequest, req.Action)
	}
	if err != nil {
		return nil, s.apiError("ContactUpdate", err)
	}
	s.dev.Messenger.ContactsChanged()
	for _, c := range n.Contacts() {
		if c.Account == acc {
			return &bv1.ContactUpdateResponse{State: bv1.ContactState(c.State)}, nil
		}
	}
	return &bv1.ContactUpdateResponse{}, nil
}

// ContactList implements NodeService.
func (s *Server) ContactList(ctx context.Context, _ *bv1.ContactListRequest) (*bv1.ContactListResponse, error) {
	cs, err := s.dev.Messenger.Contacts()
	if err != nil {
		return nil, s.apiError("ContactList", err)
	}
	status := map[keys.Public]device.RequestStatus{}
	for _, r := range s.dev.Requests() {
		status[r.Account] = r
	}
	resp := &bv1.ContactListResponse{}
	for _, c := range cs {
		acc := c.Account
		pc := &bv1.Contact{Account: acc[:], Name: c.Name, State: bv1.ContactState(c.State)}
		if cur := s.dev.Node.ContactKey(acc); cur != acc {
			pc.CurrentKey = cur[:]
		}
		if sn, err := s.dev.Node.Verification(acc); err == nil {
			pc.Verified, pc.VerificationChanged = sn.Verified, sn.Changed
		}
		if c.Topic != nil {
			pc.Topic = c.Topic[:]
		}
		if r, ok := status[c.Account]; ok && c.State == state.ContactOutgoing {
			pc.Attempts, pc.LastError = int32(r.Attempts), r.LastError
		}
		resp.Contacts = append(resp.Contacts, pc)
	}
	return resp, nil
}

// ContactVerify implements NodeService.
func (s *Server) ContactVerify(ctx context.Context, req *bv1.ContactVerifyRequest) (*bv1.ContactVerifyResponse, error) {
	acc, err := key32(req.Account, "account")
	if err != nil {
		return nil, s.apiError("ContactVerify", err)
	}
	n := s.dev.Node
	var sn node.Safety
	if req.Number != "" || req.Confirm || req.Clear {
		if req.Clear && (req.Number != "" || req.Confirm) {
			return nil, s.apiError("ContactVerify", fmt.Errorf("%w: clear with a number or confirm", errBadRequest))
		}
		sn, err = n.VerifyContact(acc, req.Number, req.Clear)
		if err == nil {
			s.dev.Messenger.ContactsChanged()
		}
	} else {
		sn, err = n.SafetyNumber(acc)
	}
	if err != nil {
		return nil, s.apiError("ContactVerify", err)
	}
	return &bv1.ContactVerifyResponse{Number: sn.Number, Code: safety.Code(sn.Number), Verified: sn.Verified, Changed: sn.Changed}, nil
}

// GroupCreate implements NodeService.
func (s *Server) GroupCreate(ctx context.Context, req *bv1.GroupCreateRequest) (*bv1.GroupCreateResponse, error) {
	t, err := s.dev.Node.CreateGroup(req.Name)
	if err != nil {
		return nil, s.apiError("GroupCreate", err)
	}
	return &bv1.GroupCreateResponse{Topic: t[:]}, nil
}

// GroupInvite implements NodeService.
func (s *Server) GroupInvite(ctx context.Context, req *bv1.GroupInviteRequest) (*bv1.GroupInviteResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("GroupInvite", err)
	}
	ttl := time.Duration(req.TtlSeconds) * time.Second
	if req.TtlSeconds == 0 {
		ttl = replica.DefaultInvitationTTL * time.Second
	}
	l, expires, err := s.dev.Messenger.InvitationLinkFor(t, ttl)
	if err != nil {
		return nil, s.apiError("GroupInvite", err)
	}
	return &bv1.GroupInviteResponse{Url: l.URL(), Compact: l.Compact(), ExpiresMs: expires.UnixMilli()}, nil
}

// GroupInviteRevoke implements NodeService.
func (s *Server) GroupInviteRevoke(ctx context.Context, req *bv1.GroupInviteRevokeRequest) (*bv1.GroupInviteRevokeResponse, error) {
	l, err := link.ParseGroup(req.Link)
	if err != nil {
		return nil, s.apiError("GroupInviteRevoke", err)
	}
	inv, err := replica.DecodeInvitation(l.Invitation)
	if err != nil {
		return nil, s.apiError("GroupInviteRevoke", fmt.Errorf("%w: the group link's invitation is invalid: %v", errBadRequest, err))
	}
	if err := s.dev.Node.RevokeInvitation(inv); err != nil {
		return nil, s.apiError("GroupInviteRevoke", err)
	}
	return &bv1.GroupInviteRevokeResponse{}, nil
}

// GroupJoin implements NodeService.
func (s *Server) GroupJoin(ctx context.Context, req *bv1.GroupJoinRequest) (*bv1.GroupJoinResponse, error) {
	l, err := link.ParseGroup(req.Link)
	if err != nil {
		return nil, s.apiError("GroupJoin", err)
	}
	inv, err := replica.DecodeInvitation(l.Invitation)
	if err != nil {
		return nil, s.apiError("GroupJoin", fmt.Errorf("%w: the group link's invitation is invalid: %v", errBadRequest, err))
	}
	t, err := s.dev.Node.Join(inv)
	if err != nil {
		return nil, s.apiError("GroupJoin", err)
	}
	return &bv1.GroupJoinResponse{Topic: t[:], Name: inv.Name}, nil
}

// GroupLeave implements NodeService.
func (s *Server) GroupLeave(ctx context.Context, req *bv1.GroupLeaveRequest) (*bv1.GroupLeaveResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err == nil {
		err = s.dev.Messenger.Leave(t)
	}
	if err != nil {
		return nil, s.apiError("GroupLeave", err)
	}
	return &bv1.GroupLeaveResponse{}, nil
}

// GroupMembers implements NodeService.
func (s *Server) GroupMembers(ctx context.Context, req *bv1.GroupMembersRequest) (*bv1.GroupMembersResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("GroupMembers", err)
	}
	ms, err := s.dev.Messenger.Members(t)
	if err != nil {
		return nil, s.apiError("GroupMembers", err)
	}
	resp := &bv1.GroupMembersResponse{}
	for _, m := range ms {
		k := m.Key
		pm := &bv1.Member{Key: k[:], Name: m.Name, Admin: m.Admin, Creator: m.Creator,
			Removed: m.Removed, Devices: int32(m.Devices), Self: m.Self, Awaiting: m.Awaiting}
		if m.Awaiting {
			pm.Inviter = m.Inviter[:]
		}
		resp.Members = append(resp.Members, pm)
	}
	if gi, err := s.dev.Node.Group(t); err == nil {
		resp.JoinsNeedApproval = gi.JoinsNeedApproval
	}
	return resp, nil
}

// GroupJoinApproval implements NodeService.
func (s *Server) GroupJoinApproval(ctx context.Context, req *bv1.GroupJoinApprovalRequest) (*bv1.GroupJoinApprovalResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err == nil {
		err = s.dev.Node.SetJoinApproval(t, req.Required)
	}
	if err != nil {
		return nil, s.apiError("GroupJoinApproval", err)
	}
	return &bv1.GroupJoinApprovalResponse{}, nil
}

// MemberAdmit implements NodeService.
func (s *Server) MemberAdmit(ctx context.Context, req *bv1.MemberAdmitRequest) (*bv1.MemberAdmitResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("MemberAdmit", err)
	}
	m, err := key32(req.Member, "member")
	if err == nil {
		err = s.dev.Node.DecideJoin(t, m, !req.Decline)
	}
	if err != nil {
		return nil, s.apiError("MemberAdmit", err)
	}
	return &bv1.MemberAdmitResponse{}, nil
}

// MemberRemove implements NodeService.
func (s *Server) MemberRemove(ctx context.Context, req *bv1.MemberRemoveRequest) (*bv1.MemberRemoveResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("MemberRemove", err)
	}
	m, err := key32(req.Member, "member")
	if err == nil {
		err = s.dev.Node.Remove(t, m)
	}
	if err != nil {
		return nil, s.apiError("MemberRemove", err)
	}
	return &bv1.MemberRemoveResponse{}, nil
}

// DeviceApprove implements NodeService.
func (s *Server) DeviceApprove(ctx context.Context, req *bv1.DeviceApproveRequest) (*bv1.DeviceApproveResponse, error) {
	l, err := link.ParseDevice(req.Link)
	if err != nil {
		return nil, s.apiError("DeviceApprove", err)
	}
	dev, err := s.dev.Approve(ctx, l)
	if err != nil {
		return nil, s.apiError("DeviceApprove", err)
	}
	return &bv1.DeviceApproveResponse{Device: dev[:]}, nil
}

// DeviceRevoke implements NodeService.
func (s *Server) DeviceRevoke(ctx context.Context, req *bv1.DeviceRevokeRequest) (*bv1.DeviceRevokeResponse, error) {
	d, err := key32(req.Device, "device")
	if err == nil {
		err = s.dev.RevokeDevice(d)
	}
	if err != nil {
		return nil, s.apiError("DeviceRevoke", err)
	}
	ak := s.dev.Node.AccountKey()
	return &bv1.DeviceRevokeResponse{AccountKey: ak[:]}, nil
}

// SendRaw implements NodeService.
func (s *Server) SendRaw(ctx context.Context, req *bv1.SendRawRequest) (*bv1.SendRawResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("SendRaw", err)
	}
	m, err := s.dev.Node.Send(t, req.Payload)
	if err != nil {
		return nil, s.apiError("SendRaw", err)
	}
	return &bv1.SendRawResponse{Id: m.ID[:]}, nil
}

// Peers implements NodeService.
func (s *Server) Peers(ctx context.Context, _ *bv1.PeersRequest) (*bv1.PeersResponse, error) {
	h := s.dev.Host
	resp := &bv1.PeersResponse{RelayAddrs: h.RelayAddrs()}
	for _, p := range h.Peers() {
		resp.Peers = append(resp.Peers, p.String())
		resp.Routes = append(resp.Routes, &bv1.PeerRoute{Peer: p.String(), Route: h.Route(p)})
	}
	for _, gi := range s.dev.Node.Topics() {
		t := gi.Topic
		g := &bv1.GroupPeers{Topic: t[:], Name: gi.Name}
		for _, p := range h.TopicPeers(t) {
			g.Connected++
			if h.Route(p) == "relayed" {
				g.Relayed++
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// SetProfile implements MessengerService.
func (s *Server) SetProfile(ctx context.Context, req *bv1.SetProfileRequest) (*bv1.SetProfileResponse, error) {
	if err := s.dev.Node.SetName(req.Name); err != nil {
		return nil, s.apiError("SetProfile", fmt.Errorf("%w: %v", errBadRequest, err))
	}
	return &bv1.SetProfileResponse{}, nil
}

// Conversations implements MessengerService.
func (s *Server) Conversations(ctx context.Context, _ *bv1.ConversationsRequest) (*bv1.ConversationsResponse, error) {
	cs, err := s.dev.Messenger.Conversations()
	if err != nil {
		return nil, s.apiError("Conversations", err)
	}
	resp := &bv1.ConversationsResponse{}
	for _, c := range cs {
		t, ck := c.Topic, c.Contact
		pc := &bv1.Conversation{Topic: t[:], Name: c.Name, Unread: int32(c.Unread), Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP}
		if c.Kind == group.KindContact {
			pc.Kind, pc.Contact = bv1.ConversationKind_CONVERSATION_KIND_CONTACT, ck[:]
		}
		if !c.MutedUntil.IsZero() {
			pc.MutedUntilMs = c.MutedUntil.UnixMilli()
		}
		if c.Last != nil {
			pc.Last = interaction(c.Last)
		}
		resp.Conversations = append(resp.Conversations, pc)
	}
	return resp, nil
}

func interaction(it *messenger.Interaction) *bv1.Interaction {
	t, id, m := it.Topic, it.ID, it.Member
	out := &bv1.Interaction{Topic: t[:], Id: id[:], Lamport: it.Lamport, Member: m[:], Name: it.Name, Own: it.Own,
		SentAtMs: it.SentAt.UnixMilli(), Body: it.Body, Edited: it.Edited, Deleted: it.Deleted, ReplyText: it.ReplyText}
	switch it.Kind {
	case messenger.KindText:
		out.Kind = bv1.InteractionKind_INTERACTION_KIND_TEXT
	case messenger.KindInvitation:
		out.Kind = bv1.InteractionKind_INTERACTION_KIND_INVITATION
	default:
		out.Kind = bv1.InteractionKind_INTERACTION_KIND_UNSUPPORTED
	}
	if it.ReplyTo != nil {
		out.ReplyTo = it.ReplyTo[:]
	}
	for _, r := range it.Reactions {
		out.Reactions = append(out.Reactions, &bv1.Reaction{Emoji: r.Emoji, Count: int32(r.Count), Mine: r.Mine})
	}
	return out
}

// History implements MessengerService.
func (s *Server) History(ctx context.Context, req *bv1.HistoryRequest) (*bv1.HistoryResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("History", err)
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var before *messenger.Cursor
	if len(req.BeforeId) > 0 {
		id, err := key32(req.BeforeId, "before_id")
		if err != nil {
			return nil, s.apiError("History", err)
		}
		before = &messenger.Cursor{Lamport: req.BeforeLamport, ID: id}
	}
	its, err := s.dev.Messenger.History(t, before, limit)
	if err != nil {
		return nil, s.apiError("History", err)
	}
	resp := &bv1.HistoryResponse{}
	for i := range its {
		resp.Interactions = append(resp.Interactions, interaction(&its[i]))
	}
	return resp, nil
}

// SendText implements MessengerService.
func (s *Server) SendText(ctx context.Context, req *bv1.SendTextRequest) (*bv1.SendTextResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("SendText", err)
	}
	var reply *[32]byte
	if len(req.ReplyTo) > 0 {
		r, err := key32(req.ReplyTo, "reply_to")
		if err != nil {
			return nil, s.apiError("SendText", err)
		}
		reply = &r
	}
	id, err := s.dev.Messenger.SendText(t, req.Body, reply)
	if err != nil {
		return nil, s.apiError("SendText", err)
	}
	return &bv1.SendTextResponse{Id: id[:]}, nil
}

// React implements MessengerService.
func (s *Server) React(ctx context.Context, req *bv1.ReactRequest) (*bv1.ReactResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("React", err)
	}
	target, err := key32(req.Target, "target")
	if err == nil {
		err = s.dev.Messenger.React(t, target, req.Emoji, req.Remove)
	}
	if err != nil {
		return nil, s.apiError("React", err)
	}
	return &bv1.ReactResponse{}, nil
}

// Edit implements MessengerService.
func (s *Server) Edit(ctx context.Context, req *bv1.EditRequest) (*bv1.EditResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("Edit", err)
	}
	target, err := key32(req.Target, "target")
	if err == nil {
		err = s.dev.Messenger.Edit(t, target, req.Body)
	}
	if err != nil {
		return nil, s.apiError("Edit", err)
	}
	return &bv1.EditResponse{}, nil
}

// Delete implements MessengerService.
func (s *Server) Delete(ctx context.Context, req *bv1.DeleteRequest) (*bv1.DeleteResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("Delete", err)
	}
	target, err := key32(req.Target, "target")
	if err == nil {
		err = s.dev.Messenger.Delete(t, target)
	}
	if err != nil {
		return nil, s.apiError("Delete", err)
	}
	return &bv1.DeleteResponse{}, nil
}

// MarkRead implements MessengerService.
func (s *Server) MarkRead(ctx context.Context, req *bv1.MarkReadRequest) (*bv1.MarkReadResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return nil, s.apiError("MarkRead", err)
	}
	upTo, err := key32(req.UpTo, "up_to")
	if err == nil {
		err = s.dev.Messenger.MarkRead(t, upTo)
	}
	if err != nil {
		return nil, s.apiError("MarkRead", err)
	}
	return &bv1.MarkReadResponse{}, nil
}

// Mute implements MessengerService.
func (s *Server) Mute(ctx context.Context, req *bv1.MuteRequest) (*bv1.MuteResponse, error) {
	t, err := key32(req.Topic, "topic")
	if err == nil {
		var until time.Time
		switch {
		case req.UntilMs == 0:
		case req.UntilMs < 0 || req.UntilMs > maxMuteMs:
			err = fmt.Errorf("%w: until_ms %d is not a time up to year 9999", errBadRequest, req.UntilMs)
		case req.UntilMs <= time.Now().UnixMilli():
			err = fmt.Errorf("%w: until_ms is in the past (0 unmutes)", errBadRequest)
		default:
			until = time.UnixMilli(req.UntilMs)
		}
		if err == nil {
			err = s.dev.Messenger.Mute(t, until)
		}
	}
	if err != nil {
		return nil, s.apiError("Mute", err)
	}
	return &bv1.MuteResponse{}, nil
}

// maxMuteMs is the end of year 9999 in Unix milliseconds.
const maxMuteMs = 253402300799999

// Search implements MessengerService.
func (s *Server) Search(ctx context.Context, req *bv1.SearchRequest) (*bv1.SearchResponse, error) {
	limit := int(req.Limit)
	if limit <= 0 || limit > 200 {
		limit = 20
	}
	its, err := s.dev.Messenger.Search(req.Query, limit)
	if err != nil {
		return nil, s.apiError("Search", err)
	}
	resp := &bv1.SearchResponse{}
	for i := range its {
		resp.Interactions = append(resp.Interactions, interaction(&its[i]))
	}
	return resp, nil
}

// Subscribe implements MessengerService: events are queued (up to 1 024;
// a client that falls further behind is told to re-read everything with
// an unspecified event) and sent until the client goes away.
func (s *Server) Subscribe(ctx context.Context, _ *bv1.SubscribeRequest, stream *connect.ServerStream[bv1.SubscribeResponse]) error {
	q := make(chan messenger.Event, 1024)
	overflow := make(chan struct{}, 1)
	cancel := s.dev.Messenger.Subscribe(func(ev messenger.Event) {
		select {
		case q <- ev:
		default:
			select {
			case overflow <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	// Send the headers now: a client's Subscribe call returns only once it
	// has them, and there may be no event for a long time.
	if err := stream.Send(nil); err != nil {
		return nil
	}
	for {
		var ev messenger.Event
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return connect.NewError(connect.CodeUnavailable, errors.New("the daemon is shutting down"))
		case <-overflow:
			if err := stream.Send(&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_UNSPECIFIED}); err != nil {
				return nil
			}
			continue
		case ev = <-q:
		}
		t, id := ev.Topic, ev.ID
		if err := stream.Send(&bv1.SubscribeResponse{Kind: bv1.EventKind(ev.Kind), Topic: t[:], Id: id[:]}); err != nil {
			return nil
		}
	}
}

// Tail implements NodeService: the stored messages after since up to
// until, then with follow the new ones, woken by the messenger's events.
func (s *Server) Tail(ctx context.Context, req *bv1.TailRequest, stream *connect.ServerStream[bv1.TailResponse]) error {
	t, err := key32(req.Topic, "topic")
	if err != nil {
		return s.apiError("Tail", err)
	}
	var after, until store.Cursor
	if req.Since != nil {
		id, err := key32(req.Since.Id, "since.id")
		if err != nil {
			return s.apiError("Tail", err)
		}
		after = store.Cursor{Lamport: req.Since.Lamport, ID: id}
	}
	bounded := req.Until != nil
	if bounded {
		id, err := key32(req.Until.Id, "until.id")
		if err != nil {
			return s.apiError("Tail", err)
		}
		until = store.Cursor{Lamport: req.Until.Lamport, ID: id}
	}
	wake := make(chan struct{}, 1)
	if req.Follow && !bounded {
		cancel := s.dev.Messenger.Subscribe(func(ev messenger.Event) {
			if ev.Topic == t && ev.Kind == messenger.ConversationUpdated {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		})
		defer cancel()
	}
	for {
		for {
			ms, err := s.dev.Node.Messages(t, after, 256)
			if err != nil {
				return s.apiError("Tail", err)
			}
			for _, m := range ms {
				if bounded && until.Before(&m) {
					return nil // past until
				}
				c := store.Cursor{Lamport: m.Lamport, ID: m.ID}
				id, mem, dev := m.ID, m.Member, m.Device
				if err := stream.Send(&bv1.TailResponse{Id: id[:], Lamport: m.Lamport, Member: mem[:], Device: dev[:],
					Seq: m.Seq, Own: m.Own, Payload: m.Body}); err != nil {
					return nil
				}
				after = c
			}
			if len(ms) < 256 {
				break
			}
		}
		if !req.Follow || bounded {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return connect.NewError(connect.CodeUnavailable, errors.New("the daemon is shutting down"))
		case <-wake:
		}
	}
}
