package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/qr"
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
		code = exitNoDaemon
	case connect.CodeNotFound:
		code = exitNotFound
	case connect.CodePermissionDenied, connect.CodeFailedPrecondition:
		code = exitRefused
	}
	return exitError{code: code, err: errors.New(ce.Message())}
}

func (x *cli) out(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if x.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(cmd.OutOrStdout())
	return nil
}

func hexKey(s, what string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, exitError{code: exitUsage, err: fmt.Errorf("%s must be 64 hex digits (as `berty contact list` or `berty conversations` print them)", what)}
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
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("no conversation named %q or with a topic starting with it: `berty conversations` lists them", q)}
	}
	return nil, exitError{code: exitUsage, err: fmt.Errorf("%q names %d conversations: give more of a topic (`berty conversations`)", q, len(found))}
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
				return x.out(cmd, map[string]any{"name": info.Name, "account": hex.EncodeToString(info.AccountKey),
					"device": hex.EncodeToString(info.DeviceKey), "peer": info.PeerId, "listen": info.Listen, "link": l.Url, "compact": l.Compact},
					func(w io.Writer) {
						fmt.Fprintf(w, "name     %s\naccount  %x\ndevice   %x\npeer     %s\n", info.Name, info.AccountKey, info.DeviceKey, info.PeerId)
						for _, a := range info.Listen {
							fmt.Fprintf(w, "listen   %s\n", a)
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
				acc, err := hexKey(args[0], "ACCOUNT")
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
				var rows []map[string]any
				for _, ct := range r.Contacts {
					rows = append(rows, map[string]any{"account": hex.EncodeToString(ct.Account), "name": ct.Name, "state": stateName(ct.State),
						"topic": hex.EncodeToString(ct.Topic), "attempts": ct.Attempts, "last_error": ct.LastError})
				}
				return x.out(cmd, rows, func(w io.Writer) {
					for _, ct := range r.Contacts {
						line := fmt.Sprintf("%x  %-9s %s", ct.Account, stateName(ct.State), ct.Name)
						if ct.LastError != "" {
							line += fmt.Sprintf("  (%d tries: %s)", ct.Attempts, ct.LastError)
						}
						fmt.Fprintln(w, line)
					}
				})
			})
		},
	})

	grp := withData(&cobra.Command{Use: "group", Short: "Groups"})
	grp.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.GroupCreate(cmd.Context(), &bv1.GroupCreateRequest{Name: args[0]})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"topic": hex.EncodeToString(r.Topic)}, func(w io.Writer) { fmt.Fprintf(w, "%x\n", r.Topic) })
			})
		},
	}, &cobra.Command{
		Use: "invite CONV", Short: "Print a group link (share it like a password)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withClient(func(c *client.Client) error {
				cv, err := x.conv(cmd, c, args[0])
				if err != nil {
					return err
				}
				r, err := c.Node.GroupInvite(cmd.Context(), &bv1.GroupInviteRequest{Topic: cv.Topic})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"link": r.Url, "compact": r.Compact}, func(w io.Writer) { fmt.Fprintln(w, r.Url) })
			})
		},
	}, &cobra.Command{
		Use: "join LINK", Short: "Join a group from a group link", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := link.ParseGroup(args[0]); err != nil {
				return exitError{code: exitUsage, err: err}
			}
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.GroupJoin(cmd.Context(), &bv1.GroupJoinRequest{Link: args[0]})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"topic": hex.EncodeToString(r.Topic), "name": r.Name}, func(w io.Writer) {
					fmt.Fprintf(w, "joined %q (%x)\n", r.Name, r.Topic)
				})
			})
		},
	}, &cobra.Command{
		Use: "leave CONV", Short: "Leave a group on all this account's devices", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withClient(func(c *client.Client) error {
				cv, err := x.conv(cmd, c, args[0])
				if err != nil {
					return err
				}
				_, err = c.Node.GroupLeave(cmd.Context(), &bv1.GroupLeaveRequest{Topic: cv.Topic})
				return x.apiErr(err)
			})
		},
	}, &cobra.Command{
		Use: "members CONV", Short: "List a conversation's members", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withClient(func(c *client.Client) error {
				cv, err := x.conv(cmd, c, args[0])
				if err != nil {
					return err
				}
				r, err := c.Node.GroupMembers(cmd.Context(), &bv1.GroupMembersRequest{Topic: cv.Topic})
				if err != nil {
					return x.apiErr(err)
				}
				var rows []map[string]any
				for _, m := range r.Members {
					rows = append(rows, map[string]any{"key": hex.EncodeToString(m.Key), "name": m.Name, "admin": m.Admin,
						"creator": m.Creator, "removed": m.Removed, "devices": m.Devices, "self": m.Self})
				}
				return x.out(cmd, rows, func(w io.Writer) {
					for _, m := range r.Members {
						var tags []string
						for _, t := range []struct {
							on   bool
							name string
						}{{m.Self, "you"}, {m.Creator, "creator"}, {m.Admin, "admin"}, {m.Removed, "removed"}} {
							if t.on {
								tags = append(tags, t.name)
							}
						}
						fmt.Fprintf(w, "%x  %-16s %d devices %s\n", m.Key, m.Name, m.Devices, strings.Join(tags, ", "))
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
				var rows []map[string]any
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
						last := ""
						if cv.Last != nil {
							last = cv.Last.Name + ": " + cv.Last.Body
						}
						fmt.Fprintf(w, "%x  %-16s %3d unread  %s\n", cv.Topic, cv.Name, cv.Unread, last)
					}
				})
			})
		},
	})

	send := withData(&cobra.Command{
		Use: "send CONV TEXT", Short: "Send a text to a conversation (by name or topic prefix)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withClient(func(c *client.Client) error {
				cv, err := x.conv(cmd, c, args[0])
				if err != nil {
					return err
				}
				r, err := c.Messenger.SendText(cmd.Context(), &bv1.SendTextRequest{Topic: cv.Topic, Body: args[1]})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"id": hex.EncodeToString(r.Id)}, func(w io.Writer) {})
			})
		},
	})

	var last int
	var ids bool
	tail := withData(&cobra.Command{
		Use:   "tail [CONV]",
		Short: "Print a conversation's (or every conversation's) latest messages, then new ones as they come",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := run(cmd)
			defer stop()
			return x.withClient(func(c *client.Client) error {
				var only []byte
				if len(args) == 1 {
					cv, err := x.conv(cmd, c, args[0])
					if err != nil {
						return err
					}
					only = cv.Topic
				}
				seen := map[string]bool{}
				show := func(topic []byte, n int) error {
					h, err := c.Messenger.History(ctx, &bv1.HistoryRequest{Topic: topic, Limit: int32(n)})
					if err != nil {
						return x.apiErr(err)
					}
					for i := len(h.Interactions) - 1; i >= 0; i-- {
						it := h.Interactions[i]
						if seen[string(it.Id)] {
							continue
						}
						seen[string(it.Id)] = true
						if x.json {
							b, _ := json.Marshal(interactionJSON(it))
							fmt.Fprintln(cmd.OutOrStdout(), string(b))
							continue
						}
						id := ""
						if ids {
							id = "  [" + short(it.Id) + "]"
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s %s %-10s %s%s\n", time.UnixMilli(it.SentAtMs).Format("15:04:05"), short(it.Topic), it.Name, it.Body, id)
					}
					return nil
				}
				// Subscribe first, so nothing falls between the history and the
				// stream.
				stream, err := c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				defer stream.Close()
				convs, err := c.Messenger.Conversations(ctx, &bv1.ConversationsRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				for _, cv := range convs.Conversations {
					if last > 0 && (only == nil || string(cv.Topic) == string(only)) {
						if err := show(cv.Topic, last); err != nil {
							return err
						}
					} else if last == 0 {
						// Mark what is there as seen: only new messages print.
						h, err := c.Messenger.History(ctx, &bv1.HistoryRequest{Topic: cv.Topic, Limit: 500})
						if err != nil {
							return x.apiErr(err)
						}
						for _, it := range h.Interactions {
							seen[string(it.Id)] = true
						}
					}
				}
				for stream.Receive() {
					ev := stream.Msg()
					if ev.Kind != bv1.EventKind_EVENT_KIND_INTERACTION || (only != nil && string(ev.Topic) != string(only)) {
						continue
					}
					if err := show(ev.Topic, 20); err != nil {
						return err
					}
				}
				if ctx.Err() != nil {
					return nil
				}
				return x.apiErr(stream.Err())
			})
		},
	})
	tail.Flags().IntVar(&last, "last", 10, "messages of history to print first")
	tail.Flags().BoolVar(&ids, "ids", false, "end each line with the message's ID, as edit, delete and react take it")

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
					groups = append(groups, map[string]any{"topic": hex.EncodeToString(g.Topic), "name": g.Name, "connected": g.Connected})
				}
				return x.out(cmd, map[string]any{"peers": r.Peers, "groups": groups}, func(w io.Writer) {
					fmt.Fprintf(w, "%d peers connected\n", len(r.Peers))
					for _, p := range r.Peers {
						fmt.Fprintf(w, "  %s\n", p)
					}
					for _, g := range r.Groups {
						fmt.Fprintf(w, "%x  %-16s %d peers\n", g.Topic, g.Name, g.Connected)
					}
				})
			})
		},
	})

	dev := withData(&cobra.Command{Use: "device", Short: "This account's devices"})
	dev.AddCommand(deviceLinkCmd(), &cobra.Command{
		Use: "approve LINK", Short: "Hand this account to the new device that shows LINK (it gets the account's secrets)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := link.ParseDevice(args[0]); err != nil {
				return exitError{code: exitUsage, err: err}
			}
			return x.withClient(func(c *client.Client) error {
				_, err := c.Node.DeviceApprove(cmd.Context(), &bv1.DeviceApproveRequest{Link: args[0]})
				return x.apiErr(err)
			})
		},
	}, &cobra.Command{
		Use: "revoke DEVICE", Short: "Revoke another device of this account (hex, as `berty device list` prints it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := hexKey(args[0], "DEVICE")
			if err != nil {
				return err
			}
			return x.withClient(func(c *client.Client) error {
				_, err := c.Node.DeviceRevoke(cmd.Context(), &bv1.DeviceRevokeRequest{Device: k})
				return x.apiErr(err)
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
				var rows []map[string]any
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

	return append([]*cobra.Command{id, contact, grp, conversations, send, tail, peers, dev}, messageCmds(x, withData)...)
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
