package daemon

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/node"
)

// The error catalogue (docs/api.md): every error leaves the API through
// here, once, with a code a client can branch on and a message a person can
// act on. Errors not in the catalogue are internal: their text is logged,
// the client gets a generic message.
var catalogue = []struct {
	err  error
	code connect.Code
}{
	{link.ErrInvalid, connect.CodeInvalidArgument},
	{messenger.ErrTooLarge, connect.CodeInvalidArgument},
	{messenger.ErrBadText, connect.CodeInvalidArgument},
	{messenger.ErrBadEmoji, connect.CodeInvalidArgument},
	{messenger.ErrEmptyText, connect.CodeInvalidArgument},
	{messenger.ErrBadLimit, connect.CodeInvalidArgument},
	{messenger.ErrNotInvitation, connect.CodeInvalidArgument},
	{node.ErrOwnLink, connect.CodeInvalidArgument},
	{node.ErrNotMulti, connect.CodeInvalidArgument},
	{node.ErrBadGroupName, connect.CodeInvalidArgument},
	{node.ErrBadName, connect.CodeInvalidArgument},
	{errBadRequest, connect.CodeInvalidArgument},
	{messenger.ErrNotAuthor, connect.CodePermissionDenied},
	{replica.ErrNotAdmin, connect.CodePermissionDenied},
	{node.ErrRevoked, connect.CodePermissionDenied},
	{messenger.ErrUnknownConv, connect.CodeNotFound},
	{messenger.ErrNoMessage, connect.CodeNotFound},
	{node.ErrUnknownGroup, connect.CodeNotFound},
	{node.ErrNoRequest, connect.CodeNotFound},
	{replica.ErrNoSuchDevice, connect.CodeNotFound},
	{replica.ErrNoSuchUser, connect.CodeNotFound},
	{node.ErrBlocked, connect.CodeFailedPrecondition},
	{node.ErrKeySucceeded, connect.CodeFailedPrecondition},
	{node.ErrSafetyMismatch, connect.CodeFailedPrecondition},
	{safety.ErrInvalid, connect.CodeInvalidArgument},
	{messenger.ErrDeleted, connect.CodeFailedPrecondition},
	{replica.ErrRevokeSelf, connect.CodeFailedPrecondition},
	{replica.ErrNotMember, connect.CodeFailedPrecondition},
	{replica.ErrNotJoined, connect.CodeFailedPrecondition},
	{replica.ErrNotApproved, connect.CodeFailedPrecondition},
	{node.ErrInvitationExpired, connect.CodeFailedPrecondition},
	{node.ErrInvitationEnded, connect.CodeFailedPrecondition},
	{node.ErrTooManyMemberships, connect.CodeFailedPrecondition},
	{node.ErrBadTTL, connect.CodeInvalidArgument},
	{replica.ErrNoSuchInvitation, connect.CodeNotFound},
	{replica.ErrNotAwaiting, connect.CodeNotFound},
	{replica.ErrNotMultiMember, connect.CodeFailedPrecondition},
	{replica.ErrWaitingForKeys, connect.CodeFailedPrecondition}, // not Unavailable: clients read that as a dead daemon
	{device.ErrLinkExpired, connect.CodeDeadlineExceeded},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
	{context.Canceled, connect.CodeCanceled},
}

// errBadRequest wraps what is wrong with a request's fields.
var errBadRequest = errors.New("bad request")

// apiError maps err to its API error.
func (s *Server) apiError(method string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	for _, c := range catalogue {
		if errors.Is(err, c.err) {
			return connect.NewError(c.code, err)
		}
	}
	s.log.Error("internal error", "method", method, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error: see the daemon's log"))
}
