// Package client talks to a running `berty daemon` (package daemon) over
// its unix socket, with the bearer token of its data directory: the CLI,
// `berty mini --remote` and the end-to-end tests use it.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"

	"github.com/berty-go/berty/api/bertyv1/bertyv1connect"
	"github.com/berty-go/berty/daemon"
)

// ErrNoDaemon is returned when no daemon serves the data directory.
var ErrNoDaemon = errors.New("no berty daemon is running on this data directory")

// Client is a connection to a daemon. Its fields are safe for concurrent use.
type Client struct {
	Node      bertyv1connect.NodeServiceClient
	Messenger bertyv1connect.MessengerServiceClient
	hc        *http.Client
}

// Dial connects to the daemon of a data directory: its socket and token.
func Dial(dir string) (*Client, error) {
	sock := filepath.Join(dir, daemon.SocketFile)
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("%w (%s): start one with `berty daemon --data %s`", ErrNoDaemon, dir, dir)
	}
	tok, err := os.ReadFile(filepath.Join(dir, daemon.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's token: %w", err)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true) // streams, and one connection for all calls
	hc := &http.Client{Transport: tr}
	auth := connect.WithInterceptors(bearer(strings.TrimSpace(string(tok))))
	const base = "http://berty"
	return &Client{
		Node:      bertyv1connect.NewNodeServiceClient(hc, base, auth),
		Messenger: bertyv1connect.NewMessengerServiceClient(hc, base, auth),
		hc:        hc,
	}, nil
}

// Close releases the client's connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// bearer adds the token to every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
