package mini

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/term"
)

// The commands on what is already there: /edit and /delete change one of
// the account's own messages, /search finds messages in every
// conversation, /leave leaves a group, /members lists who is in the
// conversation shown and /remove removes one of them.

// searchLimit is how many results /search asks for.
const searchLimit = 20

// ownTarget returns the message /edit and /delete act on (verb names the
// command): the message selected in the history pane, which must be one of
// the account's texts, or else the account's latest text in the
// conversation shown. When there is none it says why and returns nil.
func (m *Model) ownTarget(verb string) *bv1.Interaction {
	fail := func(why string) *bv1.Interaction {
		m.say(lineError, "/"+verb+": "+why)
		return nil
	}
	if it := m.selectedMessage(); it != nil {
		switch {
		case !it.Own:
			return fail("you can only " + verb + " your own messages (select one of yours in the history pane: tab, ↑/↓)")
		case it.Deleted:
			return fail("the selected message is deleted already")
		case it.Kind != bv1.InteractionKind_INTERACTION_KIND_TEXT:
			return fail("only texts can be edited or deleted")
		}
		return it
	}
	for i := len(m.hist) - 1; i >= 0; i-- {
		if it := m.hist[i]; it.Own && !it.Deleted && it.Kind == bv1.InteractionKind_INTERACTION_KIND_TEXT {
			return it
		}
	}
	return fail("you have no message in this conversation to " + verb)
}

// edit replaces the text of the account's selected or latest message.
func (m *Model) edit(body string) tea.Cmd {
	it := m.ownTarget("edit")
	if it == nil {
		return nil
	}
	req := &bv1.EditRequest{Topic: it.Topic, Target: it.Id, Body: body}
	return m.call("/edit", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.Edit(ctx, req)
		return outputMsg{reload: string(req.Topic)}, err
	})
}

// deleteMessage deletes the account's selected or latest message; the
// history keeps a tombstone in its place.
func (m *Model) deleteMessage() tea.Cmd {
	it := m.ownTarget("delete")
	if it == nil {
		return nil
	}
	req := &bv1.DeleteRequest{Topic: it.Topic, Target: it.Id}
	return m.call("/delete", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.Delete(ctx, req)
		return outputMsg{reload: string(req.Topic)}, err
	})
}

// search prints the messages of every conversation that match query, one
// line each, in the conversation shown. The daemon ranks them best match
// first, so a full page is told as the best matches, not the newest.
func (m *Model) search(query string) tea.Cmd {
	// The call runs off the UI goroutine: it gets its own copy of the names.
	names := make(map[string]string, len(m.convs))
	for _, c := range m.convs {
		names[string(c.Topic)] = convName(c)
	}
	now := m.now()
	return m.call("/search", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.Search(ctx, &bv1.SearchRequest{Query: query, Limit: searchLimit})
		if err != nil {
			return outputMsg{}, err
		}
		its := r.GetInteractions()
		if len(its) == 0 {
			return outputMsg{lines: []outLine{info("no message matches %q", query)}}, nil
		}
		head := info("1 message matches %q:", query)
		if len(its) > 1 {
			head = info("%d messages match %q:", len(its), query)
		}
		if len(its) >= searchLimit {
			head = info("the %d best matches for %q (add words to narrow the search):", len(its), query)
		}
		out := outputMsg{lines: []outLine{head}}
		for _, it := range its {
			conv, ok := names[string(it.Topic)]
			if !ok {
				conv = shortHex(it.Topic)
			}
			out.lines = append(out.lines, info("  %s · %s · %s: %s", dayStamp(it.SentAtMs, now), conv, authorName(it), oneLine(term.Clean(it.Body))))
		}
		return out, nil
	})
}

// dayStamp is a message's time, with its date unless it is now's day.
func dayStamp(ms int64, now time.Time) string {
	t := time.UnixMilli(ms).In(now.Location())
	if y, mo, d := t.Date(); y == now.Year() && mo == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// leave leaves the selected group once confirm names it: leaving is not
// undone by a key, so /leave alone only says how.
func (m *Model) leave(confirm string) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		m.say(lineError, "/leave: select a group (a contact's conversation cannot be left; /block blocks the contact instead)")
		return nil
	}
	name := convName(c)
	switch {
	case confirm == "":
		m.say(lineInfo, fmt.Sprintf("type /leave %s to leave the group %s (on all your devices)", name, name))
		return nil
	case !strings.EqualFold(oneLine(confirm), oneLine(name)):
		m.say(lineError, fmt.Sprintf("/leave: the selected group is %s, not %s: type /leave %s to leave it", name, confirm, name))
		return nil
	}
	req := &bv1.GroupLeaveRequest{Topic: c.Topic}
	return m.call("/leave", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.GroupLeave(ctx, req)
		// The group's own lines would never show again: these go to every
		// conversation.
		return outputMsg{convs: true, global: true, lines: []outLine{info("you left the group %s", name)}}, err
	})
}

// listMembers lists the selected conversation's members: name, key, devices,
// and what they are (you, creator, admin, removed).
func (m *Model) listMembers() tea.Cmd {
	c := m.selected()
	if c == nil {
		m.say(lineError, "/members: select a conversation first")
		return nil
	}
	req, name := &bv1.GroupMembersRequest{Topic: c.Topic}, convName(c)
	return m.call("/members", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.GroupMembers(ctx, req)
		if err != nil {
			return outputMsg{}, err
		}
		var members, waiting []*bv1.Member
		for _, mb := range r.Members {
			if mb.Awaiting {
				waiting = append(waiting, mb)
			} else {
				members = append(members, mb)
			}
		}
		out := outputMsg{lines: []outLine{info("%s in %s:", count(len(members), "member", "members"), name)}}
		for _, mb := range members {
			var tags []string
			for _, t := range []struct {
				on   bool
				name string
			}{{mb.Self, "you"}, {mb.Creator, "creator"}, {mb.Admin, "admin"}, {mb.Removed, "removed"}} {
				if t.on {
					tags = append(tags, t.name)
				}
			}
			n := term.Clean(mb.Name)
			if n == "" {
				n = "(no name yet)"
			}
			l := fmt.Sprintf("  %s  %s, %s", n, shortHex(mb.Key), count(int(mb.Devices), "device", "devices"))
			if len(tags) > 0 {
				l += " · " + strings.Join(tags, ", ")
			}
			out.lines = append(out.lines, info("%s", l))
		}
		for _, mb := range waiting {
			if mb.Self {
				out.lines = append(out.lines, info("  you  %s · waiting to be let in (by a member online; where joins need approval, by an admin)", shortHex(mb.Key)))
				continue
			}
			out.lines = append(out.lines, info("  %s · waits for an admin: /admit %s or /decline %s", shortHex(mb.Key), shortHex(mb.Key), shortHex(mb.Key)))
		}
		if r.JoinsNeedApproval {
			out.lines = append(out.lines, info("joins through a link wait for an admin's approval"))
		}
		return out, nil
	})
}

// removeMember removes the member of the selected group that sel names: its
// name (in any case) or the start of its key in hex. Naming the member is
// the confirmation. Only an admin may remove another member: the daemon
// says so otherwise.
func (m *Model) removeMember(sel string) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		m.say(lineError, "/remove: select a group first (a contact's conversation has no one to remove; /block blocks the contact)")
		return nil
	}
	topic, gname := c.Topic, convName(c)
	return m.call("/remove", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.GroupMembers(ctx, &bv1.GroupMembersRequest{Topic: topic})
		if err != nil {
			return outputMsg{}, err
		}
		var pick []*bv1.Member
		for _, mb := range r.Members {
			if !mb.Removed && !mb.Awaiting && (sameName(memberName(mb), sel) || hexPrefix(mb.Key, sel)) {
				pick = append(pick, mb)
			}
		}
		switch {
		case len(pick) == 0:
			return outputMsg{lines: []outLine{{lineError, fmt.Sprintf("/remove: no member of %s matches %q (/members lists them)", gname, sel)}}}, nil
		case len(pick) > 1:
			out := outputMsg{lines: []outLine{info("%d members match %q: /remove KEY removes one, by the start of its key", len(pick), sel)}}
			for _, mb := range pick {
				k := hex.EncodeToString(mb.Key)
				out.lines = append(out.lines, info("  %s  %s", memberName(mb), k[:min(len(k), 12)]))
			}
			return out, nil
		case pick[0].Self:
			return outputMsg{lines: []outLine{{lineError, "/remove: that is you: /leave leaves the group"}}}, nil
		}
		mb := pick[0]
		if _, err := m.api.MemberRemove(ctx, &bv1.MemberRemoveRequest{Topic: topic, Member: mb.Key}); err != nil {
			return outputMsg{}, err
		}
		return outputMsg{lines: []outLine{info("removed %s from %s", memberName(mb), gname)}}, nil
	})
}

// decideJoin admits (or declines) the join of the selected group that sel
// names by the start of its key, among those that wait for an admin
// (§5.5). Only an admin may: the daemon says so otherwise.
func (m *Model) decideJoin(sel string, admit bool) tea.Cmd {
	verb := map[bool]string{true: "/admit", false: "/decline"}[admit]
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		m.say(lineError, verb+": select a group first")
		return nil
	}
	topic, gname := c.Topic, convName(c)
	return m.call(verb, func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.GroupMembers(ctx, &bv1.GroupMembersRequest{Topic: topic})
		if err != nil {
			return outputMsg{}, err
		}
		var pick []*bv1.Member
		for _, mb := range r.Members {
			if mb.Awaiting && !mb.Self && hexPrefix(mb.Key, sel) {
				pick = append(pick, mb)
			}
		}
		switch len(pick) {
		case 0:
			return outputMsg{lines: []outLine{{lineError, fmt.Sprintf("%s: no join waiting in %s matches %q (/members lists them)", verb, gname, sel)}}}, nil
		case 1:
		default:
			return outputMsg{lines: []outLine{{lineError, fmt.Sprintf("%s: %d joins match %q: give more of the key", verb, len(pick), sel)}}}, nil
		}
		if _, err := m.api.MemberAdmit(ctx, &bv1.MemberAdmitRequest{Topic: topic, Member: pick[0].Key, Decline: !admit}); err != nil {
			return outputMsg{}, err
		}
		done := map[bool]string{true: "admitted", false: "declined"}[admit]
		return outputMsg{lines: []outLine{info("%s %s to %s", done, shortHex(pick[0].Key), gname)}}, nil
	})
}

// setJoinApproval makes joins to the selected group through a link wait
// for an admin, or not (§5.5). Admins only.
func (m *Model) setJoinApproval(on bool) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		m.say(lineError, "/approval: select a group first")
		return nil
	}
	topic, gname := c.Topic, convName(c)
	return m.call("/approval", func(ctx context.Context) (outputMsg, error) {
		if _, err := m.api.GroupJoinApproval(ctx, &bv1.GroupJoinApprovalRequest{Topic: topic, Required: on}); err != nil {
			return outputMsg{}, err
		}
		if on {
			return outputMsg{lines: []outLine{info("joins to %s now wait for an admin's approval; links made before no longer work: /invite makes a new one", gname)}}, nil
		}
		return outputMsg{lines: []outLine{info("joins to %s count at once again", gname)}}, nil
	})
}
