package daemon_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/daemon"
)

// TestMetricsNeedToken: what a scrape shows (peers, conversations, pending
// contact requests, traffic) is the account's business. Without the API
// token, or with a wrong one, /metrics answers 401; with it, the metrics.
func TestMetricsNeedToken(t *testing.T) {
	cfg := config(t, filepath.Join(t.TempDir(), "data"), "alice")
	cfg.Metrics = "127.0.0.1:0"
	d := startDaemon(t, cfg)
	addr, err := os.ReadFile(filepath.Join(d.dir, daemon.MetricsAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	get := func(auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+string(addr)+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer " + strings.Repeat("0", len(d.token)), d.token} {
		if code, body := get(auth); code != http.StatusUnauthorized || strings.Contains(body, "berty_") {
			t.Errorf("Authorization %q: %d %q, want 401 and no metrics", auth, code, body)
		}
	}
	if code, body := get("Bearer " + d.token); code != http.StatusOK || !strings.Contains(body, "berty_conversations") {
		t.Errorf("with the token: %d, metrics shown: %v", code, strings.Contains(body, "berty_conversations"))
	}
}

// TestRequestSizeLimits: a caller (with the token, or anyone when the API
// listens beyond loopback) cannot make the daemon read an unbounded request:
// a message over MaxRequestBytes is refused with resource_exhausted, a body
// over MaxBodyBytes is cut off, a header over MaxHeaderBytes gets 431, and
// the daemon answers the next call as before.
func TestRequestSizeLimits(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	for _, p := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			c := d.tcpNode(d.token, p.opts...)
			_, err := c.SendRaw(t.Context(), &bv1.SendRawRequest{Topic: make([]byte, 32), Payload: make([]byte, daemon.MaxRequestBytes+1)})
			if code(err) != connect.CodeResourceExhausted {
				t.Errorf("a %d-byte request: %v, want resource_exhausted", daemon.MaxRequestBytes+1, err)
			}
			if _, err := c.AccountInfo(t.Context(), &bv1.AccountInfoRequest{}); err != nil {
				t.Errorf("the call after: %v", err)
			}
		})
	}

	post := func(body io.Reader, header string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+d.addr+"/berty.v1.NodeService/AccountInfo", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+d.token)
		if header != "" {
			req.Header.Set("X-Padding", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1 // the server closed the connection: also a refusal
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// JSON whitespace is free to decode and unbounded unless the body is.
	huge := io.MultiReader(strings.NewReader("{"), bytes.NewReader(bytes.Repeat([]byte{' '}, daemon.MaxBodyBytes+1)), strings.NewReader("}"))
	if st := post(huge, ""); st == http.StatusOK {
		t.Errorf("a body over %d bytes: %d, want a refusal", daemon.MaxBodyBytes, st)
	}
	// net/http allows 4 KiB beyond MaxHeaderBytes.
	if st := post(strings.NewReader("{}"), strings.Repeat("x", daemon.MaxHeaderBytes+8<<10)); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a header over %d bytes: %d, want 431", daemon.MaxHeaderBytes, st)
	}
	if st := post(strings.NewReader("{}"), ""); st != http.StatusOK {
		t.Errorf("a plain call after: %d", st)
	}
}
