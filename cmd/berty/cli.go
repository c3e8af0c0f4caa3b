package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/internal/qr"
	"github.com/berty-go/berty/internal/term"
)

// cli holds what every verb shares: the data directory and --json.
type cli struct {
	dir  string
	json bool
}

func (x *cli) dial() (*client.Client, error) {
	c, err := client.Dial(x.dir)
	if err != nil {
		return nil, exitError{code: exitNoDaemon, err: err}
	}
	return c, nil
}

// withClient dials the daemon, runs fn, and closes the connection.
func (x *cli) withClient(fn func(c *client.Client) error) error {
	c, err := x.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// withConv dials the daemon, resolves the conversation q names (x.conv),
// and runs fn with both.
func (x *cli) withConv(cmd *cobra.Command, q string, fn func(c *client.Client, cv *bv1.Conversation) error) error {
	return x.withClient(func(c *client.Client) error {
		cv, err := x.conv(cmd, c, q)
		if err != nil {
			return err
		}
		return fn(c, cv)
	})
}

// apiErr turns an API error into a CLI error with its exit code and the
// daemon's message (meant for a person).
func (x *cli) apiErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	code := exitFailed
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		code = exitUsage
	case connect.CodeUnavailable:
		// The socket is there but nobody answers: a daemon that died.
		return exitError{code: exitNoDaemon, err: fmt.Errorf("%w (%s): start one with `berty daemon --data %s`", client.ErrNoDaemon, ce.Message(), x.dir)}
	case connect.CodeUnauthenticated:
		// The daemon's message cannot know which file this CLI read.
		return exitError{code: exitNoDaemon, err: fmt.Errorf("%s (this CLI read %s: it is not the token of the daemon answering on %s, which rewrites it at each start)",
			ce.Message(), filepath.Join(x.dir, daemon.TokenFile), filepath.Join(x.dir, daemon.SocketFile))}
	case connect.CodeNotFound:
		code = exitNotFound
	case connect.CodePermissionDenied, connect.CodeFailedPrecondition:
		code = exitRefused
	}
	return exitError{code: code, err: errors.New(ce.Message())}
}

// exitCode is the exit status err makes.
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return exitFailed
}

// out prints v as JSON with --json, else calls text. A list must be a
// non-nil slice, so that an empty one prints [] rather than null.
func (x *cli) out(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if x.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(cmd.OutOrStdout())
	return nil
}

// hexKey decodes a 32-byte key given in hex; hint names the verb that
// prints such keys.
func hexKey(s, what, hint string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, usagef("%s must be 64 hex digits (as `%s` prints them), got %q", what, hint, term.Clean(s))
	}
	return b, nil
}

func short(b []byte) string {
	if len(b) < 4 {
		return hex.EncodeToString(b)
	}
	return hex.EncodeToString(b[:4])
}

// conv resolves a conversation given by name or by a hex prefix of its
// topic (at least 4 digits).
func (x *cli) conv(cmd *cobra.Command, c *client.Client, q string) (*bv1.Conversation, error) {
	resp, err := c.Messenger.Conversations(cmd.Context(), &bv1.ConversationsRequest{})
	if err != nil {
		return nil, x.apiErr(err)
	}
	var found []*bv1.Conversation
	for _, cv := range resp.Conversations {
		if strings.EqualFold(cv.Name, q) || (len(q) >= 4 && strings.HasPrefix(hex.EncodeToString(cv.Topic), strings.ToLower(q))) {
			found = append(found, cv)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		// A blocked contact's conversation is not listed: say so rather
		// than "no conversation".
		if cs, err := c.Node.ContactList(cmd.Context(), &bv1.ContactListRequest{}); err == nil {
			for _, ct := range cs.Contacts {
				if ct.State == bv1.ContactState_CONTACT_STATE_BLOCKED && strings.EqualFold(ct.Name, q) {
					return nil, exitError{code: exitRefused, err: fmt.Errorf("you blocked %s: `berty contact unblock %x` first", term.Clean(ct.Name), ct.Account)}
				}
			}
		}
		if len(q) < 4 && strings.Trim(strings.ToLower(q), "0123456789abcdef") == "" {
			return nil, exitError{code: exitNotFound, err: fmt.Errorf("no conversation named %q; to name one by its topic, give at least 4 hex digits of the topic (`berty conversations` lists them)", q)}
		}
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("no conversation named %q or with a topic starting with it: `berty conversations` lists them", q)}
	}
	return nil, exitError{code: exitUsage, err: fmt.Errorf("%q names %d conversations: give more of a topic (`berty conversations`)", q, len(found))}
}

// completeConv completes a CONV argument with the conversations' names
// (their topic's first 8 hex digits for a name a shell could not take
// as it is), asking the daemon of --data. Best effort: it completes
// nothing, silently, if the daemon does not answer.
func (x *cli) completeConv(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := client.Dial(x.dir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	r, err := c.Messenger.Conversations(ctx, &bv1.ConversationsRequest{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, cv := range r.Conversations {
		name := cv.Name
		if name == "" || term.Clean(name) != name || strings.ContainsAny(name, " \t'\"\\$`") {
			name = short(cv.Topic)
		}
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(toComplete)) {
			out = append(out, cobra.CompletionWithDesc(name, term.Clean(cv.Name)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func cliCmds() []*cobra.Command {
	x := &cli{}
	withData := func(c *cobra.Command) *cobra.Command {
		dataFlag(c, &x.dir)
		c.PersistentFlags().BoolVar(&x.json, "json", false, "print JSON")
		return c
	}

	var showQR, reset bool
	id := withData(&cobra.Command{
		Use:   "id",
		Short: "Show this account: keys, devices, and its contact link (--qr: as a QR code)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return x.withClient(func(c *client.Client) error {
				info, err := c.Node.AccountInfo(cmd.Context(), &bv1.AccountInfoRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				l, err := c.Node.ContactLink(cmd.Context(), &bv1.ContactLinkRequest{Reset_: reset})
				if err != nil {
					return x.apiErr(err)
				}
				listen := append([]string{}, info.Listen...)
				return x.out(cmd, map[string]any{"name": info.Name, "account": hex.EncodeToString(info.AccountKey),
					"device": hex.EncodeToString(info.DeviceKey), "peer": info.PeerId, "listen": listen, "link": l.Url, "compact": l.Compact},
					func(w io.Writer) {
						// The name may come from another device of the
						// account: cleaned like a peer's.
						fmt.Fprintf(w, "name     %s\naccount  %x\n", term.Clean(info.Name), info.AccountKey)
						if len(info.FirstAccountKey) > 0 && !bytes.Equal(info.FirstAccountKey, info.AccountKey) {
							fmt.Fprintf(w, "         (moved from %x when a device was revoked)\n", info.FirstAccountKey)
						}
						fmt.Fprintf(w, "device   %x\npeer     %s\n", info.DeviceKey, term.Clean(info.PeerId))
						for _, a := range info.Listen {
							fmt.Fprintf(w, "listen   %s\n", term.Clean(a))
						}
						fmt.Fprintf(w, "link     %s\n", l.Url)
						if showQR {
							if code, err := qr.Terminal(l.Compact); err == nil {
								fmt.Fprint(w, code)
							}
						}
					})
			})
		},
	})
	id.Flags().BoolVar(&showQR, "qr", false, "draw the contact link as a QR code")
	id.Flags().BoolVar(&reset, "reset", false, "make a new contact link: every link given out before stops working")

	contact := withData(&cobra.Command{Use: "contact", Short: "Contact requests and contacts"})
	contact.AddCommand(&cobra.Command{
		Use: "add LINK", Short: "Send a contact request to the account of a contact link", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := link.ParseContact(args[0]); err != nil {
				return exitError{code: exitUsage, err: err}
			}
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.ContactRequest(cmd.Context(), &bv1.ContactRequestRequest{Link: args[0]})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"account": hex.EncodeToString(r.Account), "state": stateName(r.State)}, func(w io.Writer) {
					fmt.Fprintf(w, "request to %x: %s (the daemon keeps trying until it is delivered)\n", r.Account, stateName(r.State))
				})
			})
		},
	})
	contact.AddCommand(verifyCmd(x))
	for _, a := range []struct {
		verb   string
		short  string
		action bv1.ContactUpdateRequest_Action
	}{
		{"accept", "Accept an incoming request", bv1.ContactUpdateRequest_ACTION_ACCEPT},
		{"discard", "Decline an incoming request", bv1.ContactUpdateRequest_ACTION_DISCARD},
		{"cancel", "Cancel an outgoing request", bv1.ContactUpdateRequest_ACTION_CANCEL},
		{"block", "Block an account: its requests are refused", bv1.ContactUpdateRequest_ACTION_BLOCK},
		{"unblock", "Lift a block", bv1.ContactUpdateRequest_ACTION_UNBLOCK},
	} {
		contact.AddCommand(&cobra.Command{
			Use: a.verb + " ACCOUNT", Short: a.short + " (ACCOUNT: hex, as `berty contact list` prints it)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				acc, err := hexKey(args[0], "ACCOUNT", "berty contact list")
				if err != nil {
					return err
				}
				return x.withClient(func(c *client.Client) error {
					r, err := c.Node.ContactUpdate(cmd.Context(), &bv1.ContactUpdateRequest{Account: acc, Action: a.action})
					if err != nil {
						return x.apiErr(err)
					}
					return x.out(cmd, map[string]any{"state": stateName(r.State)}, func(w io.Writer) { fmt.Fprintln(w, stateName(r.State)) })
				})
			},
		})
	}
	contact.AddCommand(&cobra.Command{
		Use: "list", Short: "List contacts and requests", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.ContactList(cmd.Context(), &bv1.ContactListRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				rows := []map[string]any{}
				for _, ct := range r.Contacts {
					rows = append(rows, map[string]any{"account": hex.EncodeToString(ct.Account), "name": ct.Name, "state": stateName(ct.State),
						"topic": hex.EncodeToString(ct.Topic), "attempts": ct.Attempts, "last_error": ct.LastError, "current_key": hex.EncodeToString(ct.CurrentKey),
						"verified": ct.Verified, "verification_changed": ct.VerificationChanged})
				}
				return x.out(cmd, rows, func(w io.Writer) {
					for _, ct := range r.Contacts {
						line := fmt.Sprintf("%x  %-9s %s", ct.Account, stateName(ct.State), term.Clean(ct.Name))
						if ct.LastError != "" {
							line += fmt.Sprintf("  (%s: %s)", plural(int(ct.Attempts), "try", "tries"), term.Clean(ct.LastError))
						}
						if len(ct.CurrentKey) > 0 {
							line += fmt.Sprintf("  (key moved to %x: a device of theirs was revoked)", ct.CurrentKey)
						}
						switch {
						case ct.Verified:
							line += "  verified"
						case ct.VerificationChanged:
							line += "  SAFETY NUMBER CHANGED since you verified it: `berty contact verify`"
						}
						fmt.Fprintln(w, line)
					}
				})
			})
		},
	})

	conversations := withData(&cobra.Command{
		Use: "conversations", Short: "List conversations, the most recently active first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return x.withClient(func(c *client.Client) error {
				r, err := c.Messenger.Conversations(cmd.Context(), &bv1.ConversationsRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				rows := []map[string]any{}
				for _, cv := range r.Conversations {
					row := map[string]any{"topic": hex.EncodeToString(cv.Topic), "name": cv.Name, "unread": cv.Unread,
						"kind": strings.ToLower(strings.TrimPrefix(cv.Kind.String(), "CONVERSATION_KIND_"))}
					if len(cv.Contact) > 0 {
						row["contact"] = hex.EncodeToString(cv.Contact)
					}
					if cv.MutedUntilMs > 0 {
						row["muted_until"] = time.UnixMilli(cv.MutedUntilMs).UTC().Format(time.RFC3339)
					}
					if cv.Last != nil {
						row["last"] = interactionJSON(cv.Last)
					}
					rows = append(rows, row)
				}
				return x.out(cmd, rows, func(w io.Writer) {
					for _, cv := range r.Conversations {
						prefix := fmt.Sprintf("%x  %s %3d unread  ", cv.Topic, pad(cv.Name, 16), cv.Unread)
						if cv.Last == nil {
							writeText(w, prefix, "", "")
							continue
						}
						// The last message's text is indented under itself.
						writeText(w, prefix+term.Clean(cv.Last.Name)+": ", body(cv.Last), "")
					}
				})
			})
		},
	})

	send := withData(&cobra.Command{
		Use:   "send CONV TEXT",
		Short: "Send a text to a conversation (by name or topic prefix)",
		Long: `send writes TEXT to CONV: a conversation's name (a contact's or a group's, as
"berty conversations" prints it) or at least 4 hex digits of its topic. The daemon
delivers it to every member, now or as soon as they are reachable.`,
		Example: "  berty send alice \"hi\"\n  berty send friends \"dinner at 8?\"\n  berty send 3fa2 \"to the conversation whose topic starts with 3fa2\"\n" +
			"  berty send alice \"$(cat note.txt)\"   # a multi-line text\n  berty send friends \"hi\" --json        # prints the message's ID",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				r, err := c.Messenger.SendText(cmd.Context(), &bv1.SendTextRequest{Topic: cv.Topic, Body: args[1]})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"id": hex.EncodeToString(r.Id)}, func(w io.Writer) {})
			})
		},
	})

	peers := withData(&cobra.Command{
		Use: "peers", Short: "List connected peers and, per conversation, how many of its peers are connected", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.Peers(cmd.Context(), &bv1.PeersRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				groups := []map[string]any{}
				for _, g := range r.Groups {
					groups = append(groups, map[string]any{"topic": hex.EncodeToString(g.Topic), "name": g.Name, "connected": g.Connected, "relayed": g.Relayed})
				}
				routes := map[string]string{}
				for _, rt := range r.Routes {
					routes[rt.Peer] = rt.Route
				}
				return x.out(cmd, map[string]any{"peers": append([]string{}, r.Peers...), "routes": routes, "relay_addrs": append([]string{}, r.RelayAddrs...), "groups": groups}, func(w io.Writer) {
					fmt.Fprintf(w, "%s connected\n", plural(len(r.Peers), "peer", "peers"))
					for _, p := range r.Peers {
						fmt.Fprintf(w, "  %s  %s\n", term.Clean(p), term.Clean(routes[p]))
					}
					if len(r.RelayAddrs) > 0 {
						fmt.Fprintln(w, "reachable through a relay at")
						for _, a := range r.RelayAddrs {
							fmt.Fprintf(w, "  %s\n", term.Clean(a))
						}
					}
					for _, g := range r.Groups {
						how := ""
						if g.Relayed > 0 {
							how = fmt.Sprintf(" (%d relayed)", g.Relayed)
						}
						fmt.Fprintf(w, "%x  %s %s%s\n", g.Topic, pad(g.Name, 16), plural(int(g.Connected), "peer", "peers"), how)
					}
				})
			})
		},
	})

	dev := withData(&cobra.Command{Use: "device", Short: "This account's devices"})
	dev.AddCommand(deviceLinkCmd(), approveCmd(x), &cobra.Command{
		Use: "revoke DEVICE", Short: "Revoke another device of this account (hex, as `berty device list` prints it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := hexKey(args[0], "DEVICE", "berty device list")
			if err != nil {
				return err
			}
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.DeviceRevoke(cmd.Context(), &bv1.DeviceRevokeRequest{Device: k})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"account": hex.EncodeToString(r.AccountKey)}, func(w io.Writer) {
					fmt.Fprintf(w, "revoked; the account moved to key %x\n", r.AccountKey)
					fmt.Fprintln(w, "contacts learn the new key by themselves; give out your new contact link (`berty id`): the old one no longer works")
				})
			})
		},
	}, &cobra.Command{
		Use: "list", Short: "List this account's devices", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return x.withClient(func(c *client.Client) error {
				info, err := c.Node.AccountInfo(cmd.Context(), &bv1.AccountInfoRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				rows := []map[string]any{}
				for _, d := range info.Devices {
					rows = append(rows, map[string]any{"key": hex.EncodeToString(d.Key), "self": d.Self, "revoked": d.Revoked})
				}
				return x.out(cmd, rows, func(w io.Writer) {
					for _, d := range info.Devices {
						tag := ""
						if d.Self {
							tag = " (this device)"
						}
						if d.Revoked {
							tag += " revoked"
						}
						fmt.Fprintf(w, "%x%s\n", d.Key, tag)
					}
				})
			})
		},
	})

	cmds := []*cobra.Command{id, contact, groupCmd(x, withData), conversations, send, tailCmd(x, withData), peers, dev}
	return append(cmds, messageCmds(x, withData)...)
}

// interactionJSON is an interaction as --json prints it: keys in hex.
func interactionJSON(it *bv1.Interaction) map[string]any {
	m := map[string]any{"topic": hex.EncodeToString(it.Topic), "id": hex.EncodeToString(it.Id), "lamport": it.Lamport,
		"member": hex.EncodeToString(it.Member), "name": it.Name, "own": it.Own,
		"sent_at": time.UnixMilli(it.SentAtMs).UTC().Format(time.RFC3339Nano), "body": it.Body,
		"kind": strings.ToLower(strings.TrimPrefix(it.Kind.String(), "INTERACTION_KIND_")), "edited": it.Edited, "deleted": it.Deleted}
	if len(it.ReplyTo) > 0 {
		m["reply_to"], m["reply_text"] = hex.EncodeToString(it.ReplyTo), it.ReplyText
	}
	var rs []map[string]any
	for _, r := range it.Reactions {
		rs = append(rs, map[string]any{"emoji": r.Emoji, "count": r.Count, "mine": r.Mine})
	}
	if rs != nil {
		m["reactions"] = rs
	}
	return m
}

func stateName(s bv1.ContactState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "CONTACT_STATE_"))
}
