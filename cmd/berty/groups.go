package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

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
	var inviteTTL time.Duration
	invite := &cobra.Command{
		Use: "invite CONV", Short: "Print a group link (share it like a password; --qr: also as a QR code)", Args: cobra.ExactArgs(1),
		Long: `invite prints a new group link for CONV. Anyone holding it can join until it
expires (--ttl, a week by default), it is revoked (berty group revoke-link), or a
member is removed: every removal, leave or revocation of a device ends every link
made before it, so share a new one after.`,
		Example:           "  berty group invite climbing\n  berty group invite climbing --ttl 1h --qr",
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inviteTTL < time.Minute || inviteTTL > 365*24*time.Hour {
				return exitError{code: exitUsage, err: fmt.Errorf("--ttl %s: a link lasts from 1m to 8760h (a year)", inviteTTL)}
			}
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				r, err := c.Node.GroupInvite(cmd.Context(), &bv1.GroupInviteRequest{Topic: cv.Topic, TtlSeconds: uint32(inviteTTL / time.Second)})
				if err != nil {
					return x.apiErr(err)
				}
				expires := time.UnixMilli(r.ExpiresMs)
				return x.out(cmd, map[string]any{"link": r.Url, "compact": r.Compact, "expires": expires.UTC().Format(time.RFC3339)}, func(w io.Writer) {
					fmt.Fprintln(w, r.Url)
					fmt.Fprintf(cmd.ErrOrStderr(), "(admits until %s)\n", expires.Local().Format("2006-01-02 15:04"))
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
	invite.Flags().DurationVar(&inviteTTL, "ttl", 7*24*time.Hour, "how long the link admits (1m to 8760h)")
	revoke := &cobra.Command{
		Use: "revoke-link LINK", Short: "End a group link before it expires (yours, or any if you are an admin)", Args: cobra.ExactArgs(1),
		Long: `revoke-link ends a group link: no one joins with it after, and a join with it
that the group's members had not seen yet is undone.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := link.ParseGroup(args[0]); err != nil {
				return exitError{code: exitUsage, err: err}
			}
			return x.withClient(func(c *client.Client) error {
				if _, err := c.Node.GroupInviteRevoke(cmd.Context(), &bv1.GroupInviteRevokeRequest{Link: args[0]}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"revoked": true}, func(w io.Writer) { fmt.Fprintln(w, "revoked") })
			})
		},
	}

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
	}, invite, revoke, &cobra.Command{
		Use: "join LINK", Short: "Join a group from a group link", Args: cobra.ExactArgs(1),
		Long: `join joins the group of a group link. A member online lets this device in (an
admin, where the group's joins need approval): until then "berty group members"
shows you waiting and sending is refused. If this account left the group, or was
removed, a new link lets it back in as a new member, who reads what is written
from then on; a link made before that ended with it.`,
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
				names := map[string]string{}
				for _, m := range r.Members {
					row := map[string]any{"key": hex.EncodeToString(m.Key), "name": m.Name, "admin": m.Admin,
						"creator": m.Creator, "removed": m.Removed, "devices": m.Devices, "self": m.Self, "awaiting": m.Awaiting}
					if m.Awaiting {
						row["inviter"] = hex.EncodeToString(m.Inviter)
					}
					rows = append(rows, row)
					names[string(m.Key)] = m.Name
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
						switch {
						case m.Awaiting && m.Self:
							tags = append(tags, "waiting to be let in (by a member online; where joins need approval, by an admin)")
						case m.Awaiting:
							via := names[string(m.Inviter)]
							if via == "" {
								via = short(m.Inviter)
							}
							tags = append(tags, fmt.Sprintf("waits for an admin (link by %s): berty group admit|decline", term.Clean(via)))
						}
						line := fmt.Sprintf("%x  %s %s %s", m.Key, pad(m.Name, 16), plural(int(m.Devices), "device", "devices"), strings.Join(tags, ", "))
						fmt.Fprintln(w, strings.TrimRight(line, " "))
					}
					if r.JoinsNeedApproval {
						fmt.Fprintln(cmd.ErrOrStderr(), "(joins through a link wait for an admin's approval)")
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
				m, err := x.findMember(cmd, c, cv, args[1], false)
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
	}, approvalCmd(x), decideCmd(x, true), decideCmd(x, false))
	return grp
}

// approvalCmd is `berty group approval CONV on|off`.
func approvalCmd(x *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "approval CONV on|off",
		Short: "Make joins through a link wait for an admin's approval, or not (admins only)",
		Long: `approval on: whoever joins CONV with a group link — anyone's link — waits, reading
and writing nothing, until an admin admits them (berty group admit) or declines
them (berty group decline). "berty group members" lists who waits, and through
whose link. Turning it on ends every link made before (share new ones): a join
through an older link that you had not seen yet is undone. approval off: joins
count at once again (those already waiting still wait for a decision). A
removal, or revoking the link they used, ends the joins still waiting: they need
a new link.`,
		Example:           "  berty group approval climbing on",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch strings.ToLower(args[1]) {
			case "on", "yes", "true":
				on = true
			case "off", "no", "false":
			default:
				return usagef("approval %s: say on or off", term.Clean(args[1]))
			}
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				if _, err := c.Node.GroupJoinApproval(cmd.Context(), &bv1.GroupJoinApprovalRequest{Topic: cv.Topic, Required: on}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"joins_need_approval": on}, func(w io.Writer) {
					if on {
						fmt.Fprintf(w, "joins to %s now wait for an admin's approval; links made before no longer work: share new ones\n", term.Clean(cv.Name))
					} else {
						fmt.Fprintf(w, "joins to %s count at once again\n", term.Clean(cv.Name))
					}
				})
			})
		},
	}
}

// decideCmd is `berty group admit` (admit) or `berty group decline`.
func decideCmd(x *cli, admit bool) *cobra.Command {
	verb, summary, long := "admit", "Let in a member whose join waits for an admin (admins only)",
		`admit lets in MEMBER, who joined CONV through a link and waits for an admin
(berty group approval): the group hands them its keys, and they read what is
written from then on. MEMBER is at least 4 hex digits of the key that
"berty group members CONV" lists as waiting.`
	if !admit {
		verb, summary, long = "decline", "Turn down a join that waits for an admin, for good (admins only)",
			`decline turns down MEMBER, who joined CONV through a link and waits for an
admin: that member key never gets in (the person would need a new account and a
new link). MEMBER is at least 4 hex digits of the key that "berty group members
CONV" lists as waiting.`
	}
	return &cobra.Command{
		Use: verb + " CONV MEMBER", Short: summary, Long: long,
		Example:           "  berty group " + verb + " climbing 3fa2c1",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				m, err := x.findMember(cmd, c, cv, args[1], true)
				if err != nil {
					return err
				}
				if _, err := c.Node.MemberAdmit(cmd.Context(), &bv1.MemberAdmitRequest{Topic: cv.Topic, Member: m.Key, Decline: !admit}); err != nil {
					return x.apiErr(err)
				}
				done := map[bool]string{true: "admitted", false: "declined"}[admit]
				return x.out(cmd, map[string]any{"key": hex.EncodeToString(m.Key), done: true}, func(w io.Writer) {
					fmt.Fprintf(w, "%s %s to %s\n", done, short(m.Key), term.Clean(cv.Name))
				})
			})
		},
	}
}

// findMember asks the daemon for a group's members and finds the one q
// names (see member).
func (x *cli) findMember(cmd *cobra.Command, c *client.Client, cv *bv1.Conversation, q string, awaiting bool) (*bv1.Member, error) {
	r, err := c.Node.GroupMembers(cmd.Context(), &bv1.GroupMembersRequest{Topic: cv.Topic})
	if err != nil {
		return nil, x.apiErr(err)
	}
	return member(r.Members, q, cv.Name, awaiting)
}

// member finds the member of a group that q names: by name (case does not
// matter) or by a hex prefix of its key of at least 4 digits. Members
// already removed are left out; with awaiting, only the joins that wait for
// an admin are looked at, else only the members.
func member(ms []*bv1.Member, q, conv string, awaiting bool) (*bv1.Member, error) {
	lq := strings.ToLower(strings.TrimSpace(q))
	var found []*bv1.Member
	for _, m := range ms {
		if m.Removed || m.Awaiting != awaiting {
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
		what := "member"
		if awaiting {
			what = "join waiting for an admin"
		}
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("no %s of %s named %q or with a key starting with it (at least 4 hex digits): `berty group members` lists them",
			what, term.Clean(conv), term.Clean(q))}
	}
	return nil, usagef("%q names %d members of %s: give at least 4 hex digits of a key instead (`berty group members`)", term.Clean(q), len(found), term.Clean(conv))
}
