package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/qr"
	"github.com/berty-go/berty/internal/term"
)

// groupCmd is `berty group` and its verbs.
func groupCmd(x *cli, withData func(*cobra.Command) *cobra.Command) *cobra.Command {
	grp := withData(&cobra.Command{Use: "group", Short: "Groups"})
	var inviteQR bool
	invite := &cobra.Command{
		Use: "invite CONV", Short: "Print a group link (share it like a password; --qr: also as a QR code)", Args: cobra.ExactArgs(1),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				r, err := c.Node.GroupInvite(cmd.Context(), &bv1.GroupInviteRequest{Topic: cv.Topic})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"link": r.Url, "compact": r.Compact}, func(w io.Writer) {
					fmt.Fprintln(w, r.Url)
					if inviteQR {
						if code, err := qr.Terminal(r.Compact); err == nil {
							fmt.Fprint(w, code)
						}
					}
				})
			})
		},
	}
	invite.Flags().BoolVar(&inviteQR, "qr", false, "also draw the link as a QR code")

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
	}, invite, &cobra.Command{
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
					fmt.Fprintf(w, "joined %q (%x)\n", term.Clean(r.Name), r.Topic)
				})
			})
		},
	}, &cobra.Command{
		Use: "leave CONV", Short: "Leave a group on all this account's devices", Args: cobra.ExactArgs(1),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				_, err := c.Node.GroupLeave(cmd.Context(), &bv1.GroupLeaveRequest{Topic: cv.Topic})
				return x.apiErr(err)
			})
		},
	}, &cobra.Command{
		Use: "members CONV", Short: "List a conversation's members", Args: cobra.ExactArgs(1),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				r, err := c.Node.GroupMembers(cmd.Context(), &bv1.GroupMembersRequest{Topic: cv.Topic})
				if err != nil {
					return x.apiErr(err)
				}
				rows := []map[string]any{}
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
						line := fmt.Sprintf("%x  %s %s %s", m.Key, pad(m.Name, 16), plural(int(m.Devices), "device", "devices"), strings.Join(tags, ", "))
						fmt.Fprintln(w, strings.TrimRight(line, " "))
					}
				})
			})
		},
	}, &cobra.Command{
		Use:   "remove CONV MEMBER",
		Short: "Remove a member from a group (admins only); the group rotates its keys",
		Long: `remove takes MEMBER out of the group CONV: the group rotates its keys, so that
what is written after cannot be read by the removed member's devices. MEMBER is a
member's name or at least 4 hex digits of its key, as "berty group members CONV"
prints them. Only an admin can remove a member.`,
		Example:           "  berty group remove friends carol\n  berty group remove friends 3fa2c1",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				r, err := c.Node.GroupMembers(cmd.Context(), &bv1.GroupMembersRequest{Topic: cv.Topic})
				if err != nil {
					return x.apiErr(err)
				}
				m, err := member(r.Members, args[1], cv.Name)
				if err != nil {
					return err
				}
				if _, err := c.Node.MemberRemove(cmd.Context(), &bv1.MemberRemoveRequest{Topic: cv.Topic, Member: m.Key}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"key": hex.EncodeToString(m.Key), "name": m.Name}, func(w io.Writer) {
					fmt.Fprintf(w, "removed %s (%s) from %s\n", term.Clean(m.Name), short(m.Key), term.Clean(cv.Name))
				})
			})
		},
	})
	return grp
}

// member finds the member of a group that q names: by name (case does not
// matter) or by a hex prefix of its key of at least 4 digits. Members
// already removed are left out.
func member(ms []*bv1.Member, q, conv string) (*bv1.Member, error) {
	lq := strings.ToLower(strings.TrimSpace(q))
	var found []*bv1.Member
	for _, m := range ms {
		if m.Removed {
			continue
		}
		if strings.EqualFold(m.Name, q) || (len(lq) >= 4 && strings.HasPrefix(hex.EncodeToString(m.Key), lq)) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("no member of %s named %q or with a key starting with it (at least 4 hex digits): `berty group members` lists them",
			term.Clean(conv), term.Clean(q))}
	}
	return nil, usagef("%q names %d members of %s: give at least 4 hex digits of a key instead (`berty group members`)", term.Clean(q), len(found), term.Clean(conv))
}
