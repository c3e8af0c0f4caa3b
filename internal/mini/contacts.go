package mini

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/core/safety"
)

// The commands on contacts: /accept and /discard answer an incoming
// request, /cancel takes back one of the account's own, /block blocks the
// contact of the conversation shown and /unblock lifts a block. Each is a
// ContactUpdate; the states each acts on are those of docs/protocol.md
// §11.6.

// contactVerb is a command that picks a contact among those in some states
// and applies an action to it.
type contactVerb struct {
	cmd    string // the command, "/accept"
	action bv1.ContactUpdateRequest_Action
	among  func(bv1.ContactState) bool
	// one and many name what it picks among, after a count ("1 contact
	// request waiting", "2 contact requests waiting").
	one, many string
	none      string // said when there is none
	does      string // "accepts": what /cmd N does to the N-th
	// named: the command acts only on a contact it is told (/unblock);
	// the others act on the only candidate when told none.
	named bool
	done  string // said once done, with the contact's name
}

func incoming(s bv1.ContactState) bool { return s == bv1.ContactState_CONTACT_STATE_INCOMING }

var (
	acceptVerb = contactVerb{cmd: "/accept", action: bv1.ContactUpdateRequest_ACTION_ACCEPT, among: incoming,
		one: "contact request waiting", many: "contact requests waiting", none: "no contact request is waiting",
		does: "accepts", done: "accepted %s's contact request"}
	discardVerb = contactVerb{cmd: "/discard", action: bv1.ContactUpdateRequest_ACTION_DISCARD, among: incoming,
		one: "contact request waiting", many: "contact requests waiting", none: "no contact request is waiting",
		does: "discards", done: "discarded %s's contact request (they are not told)"}
	cancelVerb = contactVerb{cmd: "/cancel", action: bv1.ContactUpdateRequest_ACTION_CANCEL,
		among: func(s bv1.ContactState) bool {
			return s == bv1.ContactState_CONTACT_STATE_OUTGOING || s == bv1.ContactState_CONTACT_STATE_SENT
		},
		one: "request of yours not yet accepted", many: "requests of yours not yet accepted",
		none: "you have no contact request waiting to be accepted", does: "cancels", done: "cancelled your contact request to %s"}
	unblockVerb = contactVerb{cmd: "/unblock", action: bv1.ContactUpdateRequest_ACTION_UNBLOCK,
		among: func(s bv1.ContactState) bool { return s == bv1.ContactState_CONTACT_STATE_BLOCKED },
		one:   "blocked account", many: "blocked accounts", none: "you have blocked no one",
		does: "unblocks", named: true, done: "unblocked %s"}
)

// pickContacts returns the contacts of list that sel names: its number in
// list (from 1), its name (in any case), or the start of its account in hex
// (4 digits at least). An empty sel names them all.
func pickContacts(list []*bv1.Contact, sel string) []*bv1.Contact {
	if n, err := strconv.Atoi(sel); err == nil && n >= 1 && n <= len(list) {
		return list[n-1 : n]
	}
	var out []*bv1.Contact
	for _, c := range list {
		if sel == "" || sameName(contactName(c), sel) || hexPrefix(c.Account, sel) {
			out = append(out, c)
		}
	}
	return out
}

// sameName reports whether a person typed name, in any case and spacing.
func sameName(name, typed string) bool { return strings.EqualFold(oneLine(name), oneLine(typed)) }

// hexPrefix reports whether typed is the start of key in hex, 4 digits at
// least.
func hexPrefix(key []byte, typed string) bool {
	return len(typed) >= 4 && strings.HasPrefix(hex.EncodeToString(key), strings.ToLower(typed))
}

// updateContact runs v on the contact sel names among those v acts on; when
// sel names none or several, or v needs a name and has none, it lists them.
func (m *Model) updateContact(v contactVerb, sel string) tea.Cmd {
	return m.call(v.cmd, func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.ContactList(ctx, &bv1.ContactListRequest{})
		if err != nil {
			return outputMsg{}, err
		}
		var cands []*bv1.Contact
		for _, c := range r.Contacts {
			if v.among(c.State) {
				cands = append(cands, c)
			}
		}
		if len(cands) == 0 {
			return outputMsg{lines: []outLine{info("%s", v.none)}}, nil
		}
		pick := pickContacts(cands, sel)
		if len(pick) != 1 || (v.named && sel == "") {
			out := outputMsg{}
			if len(pick) == 0 {
				out.lines = append(out.lines, outLine{lineError, fmt.Sprintf("%s: nothing matches %q", v.cmd, sel)})
			}
			out.lines = append(out.lines, info("%s: %s N (or NAME) %s the N-th", count(len(cands), v.one, v.many), v.cmd, v.does))
			for i, c := range cands {
				out.lines = append(out.lines, info("  %d. %s (%s)", i+1, contactName(c), shortHex(c.Account)))
			}
			return out, nil
		}
		c := pick[0]
		if _, err := m.api.ContactUpdate(ctx, &bv1.ContactUpdateRequest{Account: c.Account, Action: v.action}); err != nil {
			return outputMsg{}, err
		}
		out := outputMsg{lines: []outLine{info(v.done, contactName(c))}}
		if v.action == bv1.ContactUpdateRequest_ACTION_ACCEPT {
			// The conversation's topic is known once accepted: select it.
			if r, err := m.api.ContactList(ctx, &bv1.ContactListRequest{}); err == nil {
				for _, a := range r.Contacts {
					if string(a.Account) == string(c.Account) {
						out.sel = string(a.Topic)
					}
				}
			}
		}
		return out, nil
	})
}

// block blocks the contact of the conversation shown once confirm names
// it: a block hides the conversation, so /block alone only says how.
func (m *Model) block(confirm string) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_CONTACT || len(c.Contact) == 0 {
		m.say(lineError, "/block: select the conversation of the contact to block (in a group, an admin removes a member with /remove NAME)")
		return nil
	}
	name := convName(c)
	switch {
	case confirm == "":
		m.say(lineInfo, fmt.Sprintf("type /block %s to block %s: they will not be told, and their messages will not show", name, name))
		return nil
	case !sameName(name, confirm):
		m.say(lineError, fmt.Sprintf("/block: the selected contact is %s, not %s: type /block %s to block them", name, confirm, name))
		return nil
	}
	req := &bv1.ContactUpdateRequest{Account: c.Contact, Action: bv1.ContactUpdateRequest_ACTION_BLOCK}
	return m.call("/block", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.ContactUpdate(ctx, req)
		// The conversation goes from the list: its lines would not show.
		return outputMsg{convs: true, global: true, lines: []outLine{info("blocked %s (/unblock %s lifts it)", name, name)}}, err
	})
}

// verify shows the selected contact's safety number (docs/protocol.md
// §11.8), checks the one the contact reads out (/verify DIGITS, or the text
// of their code), records a comparison by eye (/verify ok) or forgets it
// (/verify clear).
func (m *Model) verify(arg string) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_CONTACT || len(c.Contact) == 0 {
		m.say(lineError, "/verify: select the conversation of the contact whose safety number to show")
		return nil
	}
	name := convName(c)
	req := &bv1.ContactVerifyRequest{Account: c.Contact}
	switch strings.ToLower(arg) {
	case "":
	case "ok", "yes":
		req.Confirm = true
	case "clear":
		req.Clear = true
	default:
		if _, err := safety.Parse(arg); err != nil {
			m.say(lineError, "/verify: "+err.Error())
			return nil
		}
		req.Number = arg
	}
	return m.call("/verify", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.ContactVerify(ctx, req)
		if err != nil {
			return outputMsg{}, err
		}
		lines := []outLine{info("safety number with %s:", name)}
		for _, l := range strings.Split(safety.Format(r.Number), "\n") {
			lines = append(lines, info("  %s", l))
		}
		switch {
		case r.Verified:
			lines = append(lines, info("verified"))
		case r.Changed:
			lines = append(lines, outLine{lineError, fmt.Sprintf("CHANGED since you verified it: a key of yours or %s's moved on (a device was revoked?); compare again", name)})
		default:
			lines = append(lines, info("not verified: compare it with %s's (in person or on a call), then /verify ok, or type theirs: /verify DIGITS", name))
		}
		return outputMsg{lines: lines}, nil
	})
}
