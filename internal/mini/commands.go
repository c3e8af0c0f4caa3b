package mini

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/qr"
	"github.com/berty-go/berty/internal/term"
)

// outputMsg is what a command or a send produced.
type outputMsg struct {
	what    string // the command, for its error line
	topic   string // the conversation shown when it ran: its lines go there
	lines   []outLine
	err     error
	sel     string // a conversation to select once it is listed
	reload  string // a conversation whose history to read again
	convs   bool   // read the conversation list again (a group was left)
	global  bool   // the lines belong to every conversation (the one shown is gone)
	account bool   // read the account again (the name changed)
	clip    string // text for the terminal's clipboard (OSC 52)
}

type outLine struct {
	kind lineKind
	text string
}

func info(format string, a ...any) outLine { return outLine{lineInfo, fmt.Sprintf(format, a...)} }

// call runs fn off the UI goroutine with a bounded context; its result
// comes back as an outputMsg.
func (m *Model) call(what string, fn func(ctx context.Context) (outputMsg, error)) tea.Cmd {
	topic := m.sel
	return func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		out, err := fn(ctx)
		out.what, out.topic, out.err = what, topic, err
		return out
	}
}

// output shows a command's result.
func (m *Model) output(o outputMsg) tea.Cmd {
	if o.err != nil {
		if m.ctx.Err() == nil && !m.lost(o.err) {
			m.sys(o.topic, lineError, o.what+": "+errText(o.err))
		}
		return nil
	}
	m.reachable()
	topic := o.topic
	switch {
	case o.sel != "":
		topic = o.sel // where the person is taken
	case o.global:
		topic = ""
	}
	for _, l := range o.lines {
		m.sys(topic, l.kind, l.text)
	}
	var cmds []tea.Cmd
	if o.clip != "" {
		cmds = append(cmds, tea.SetClipboard(o.clip))
	}
	if o.sel != "" {
		if m.index(o.sel) >= 0 {
			cmds = append(cmds, m.selectTopic(o.sel))
		} else {
			m.want = o.sel
			cmds = append(cmds, m.loadConvs())
		}
	}
	if o.reload != "" && o.reload == m.sel {
		cmds = append(cmds, m.loadHistory(o.reload), m.loadConvs())
	}
	if o.convs {
		cmds = append(cmds, m.loadConvs())
	}
	if o.account {
		cmds = append(cmds, m.loadAccount())
	}
	return tea.Batch(cmds...)
}

// commandHelp is /help's text, one command a line.
var commandHelp = []string{
	"/contact share [qr]  your contact link (qr: its QR code)",
	"/contact add LINK    ask the account of LINK to be a contact",
	"/accept [N|NAME]     accept a contact request",
	"/discard [N|NAME]    decline a contact request (they are not told)",
	"/cancel [N|NAME]     take back a contact request of yours",
	"/block NAME          block the selected contact (/block alone asks first)",
	"/unblock NAME        lift a block (/unblock alone lists them)",
	"/group new NAME      create a group",
	"/invite [qr]         a link to the selected group",
	"/join LINK           join a group from its link",
	"/leave NAME          leave the selected group (/leave alone asks first)",
	"/members             who is in the selected conversation",
	"/remove NAME         remove a member from the selected group (admins)",
	"/approval on|off     joins through a link wait for an admin, or not (admins)",
	"/admit KEY           let in a join that waits (admins; /members lists them)",
	"/decline KEY         turn a join that waits down, for good (admins)",
	"/react EMOJI         react to the selected or latest message",
	"/edit TEXT           replace the text of your selected or latest message",
	"/delete              delete your selected or latest message",
	"/search TEXT         search the messages of every conversation",
	"/verify [NUMBER|ok]  the selected contact's safety number; check theirs, or ok after comparing",
	"/mute [FOR|off]      silence the selected conversation (8h; 90m, 3d, 2w, forever)",
	"/name NAME           set your display name",
	"/peers               connected peers",
	"/debug               keys, peer id, addresses, data directory",
	"/quit                quit (also ctrl+c, esc)",
	"keys: tab switches pane, ↑/↓ select, pgup/pgdown scroll;",
	"in the history pane: enter or r replies, + reacts 👍",
}

// command runs a slash command.
func (m *Model) command(line string) tea.Cmd {
	name, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	args := strings.Fields(rest)
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	usage := func(u string) tea.Cmd {
		m.say(lineError, "usage: "+u)
		return nil
	}
	switch name {
	case "/help", "/?":
		for _, h := range commandHelp {
			m.say(lineInfo, h)
		}
		return nil
	case "/quit", "/exit":
		return tea.Quit
	case "/contact":
		switch arg(0) {
		case "share":
			return m.shareContact(arg(1) == "qr")
		case "add":
			if len(args) != 2 {
				return usage("/contact add LINK (the link /contact share prints on the other side)")
			}
			return m.addContact(args[1])
		}
		return usage("/contact share [qr] or /contact add LINK")
	case "/accept":
		return m.updateContact(acceptVerb, rest)
	case "/discard":
		return m.updateContact(discardVerb, rest)
	case "/cancel":
		return m.updateContact(cancelVerb, rest)
	case "/unblock":
		return m.updateContact(unblockVerb, rest)
	case "/block":
		return m.block(rest)
	case "/verify":
		return m.verify(rest)
	case "/mute":
		return m.mute(rest)
	case "/group":
		if (arg(0) != "new" && arg(0) != "create") || len(args) < 2 {
			return usage("/group new NAME")
		}
		gname := strings.TrimSpace(strings.TrimPrefix(rest, arg(0)))
		return m.call("/group new", func(ctx context.Context) (outputMsg, error) {
			r, err := m.api.GroupCreate(ctx, &bv1.GroupCreateRequest{Name: gname})
			return outputMsg{sel: string(r.GetTopic()),
				lines: []outLine{info("created the group %q: /invite prints a link to share with its members", gname)}}, err
		})
	case "/invite":
		return m.invite(arg(0) == "qr")
	case "/join":
		if len(args) != 1 {
			return usage("/join LINK (the link /invite prints on the other side)")
		}
		return m.call("/join", func(ctx context.Context) (outputMsg, error) {
			r, err := m.api.GroupJoin(ctx, &bv1.GroupJoinRequest{Link: args[0]})
			return outputMsg{sel: string(r.GetTopic()), lines: []outLine{info("joined the group %q", term.Clean(r.GetName()))}}, err
		})
	case "/name":
		if rest == "" {
			return usage("/name NAME")
		}
		return m.call("/name", func(ctx context.Context) (outputMsg, error) {
			_, err := m.api.SetProfile(ctx, &bv1.SetProfileRequest{Name: rest})
			return outputMsg{account: true, lines: []outLine{info("your name is now %s", rest)}}, err
		})
	case "/react":
		if len(args) != 1 {
			return usage("/react EMOJI (to the message selected in the history pane, or the latest)")
		}
		it := m.selectedMessage()
		if it == nil && len(m.hist) > 0 {
			it = m.hist[len(m.hist)-1]
		}
		if it == nil {
			m.say(lineError, "/react: no message to react to")
			return nil
		}
		return m.react(it, args[0])
	case "/edit":
		if rest == "" {
			return usage("/edit TEXT (replaces your message selected in the history pane, or your latest)")
		}
		return m.edit(rest)
	case "/delete":
		if rest != "" {
			return usage("/delete (deletes your message selected in the history pane, or your latest)")
		}
		return m.deleteMessage()
	case "/search":
		if rest == "" {
			return usage("/search TEXT (searches the messages of every conversation)")
		}
		return m.search(rest)
	case "/leave":
		return m.leave(rest)
	case "/members":
		return m.listMembers()
	case "/remove":
		if rest == "" {
			return usage("/remove NAME (a member of the selected group, by name or the start of its key: /members lists them)")
		}
		return m.removeMember(rest)
	case "/admit", "/decline":
		if rest == "" {
			return usage(name + " KEY (a join of the selected group that waits for an admin, by the start of its key: /members lists them)")
		}
		return m.decideJoin(rest, name == "/admit")
	case "/approval":
		switch strings.ToLower(rest) {
		case "on":
			return m.setJoinApproval(true)
		case "off":
			return m.setJoinApproval(false)
		}
		return usage("/approval on|off (joins to the selected group through a link wait for an admin, or not)")
	case "/peers":
		return m.call("/peers", func(ctx context.Context) (outputMsg, error) {
			r, err := m.api.Peers(ctx, &bv1.PeersRequest{})
			if err != nil {
				return outputMsg{}, err
			}
			out := outputMsg{lines: []outLine{info("%s connected", count(len(r.Peers), "peer", "peers"))}}
			for i, p := range r.Peers {
				route := ""
				if i < len(r.Routes) {
					route = r.Routes[i].Route
				}
				out.lines = append(out.lines, info("  %s  %s", term.Clean(p), term.Clean(route)))
			}
			for _, a := range r.RelayAddrs {
				out.lines = append(out.lines, info("reachable through a relay at %s", term.Clean(a)))
			}
			for _, g := range r.Groups {
				how := ""
				if g.Relayed > 0 {
					how = fmt.Sprintf(" (%d through a relay)", g.Relayed)
				}
				out.lines = append(out.lines, info("%s: %s of this conversation connected%s", term.Clean(g.Name), count(int(g.Connected), "peer", "peers"), how))
			}
			return out, nil
		})
	case "/debug":
		return m.call("/debug", func(ctx context.Context) (outputMsg, error) {
			r, err := m.api.AccountInfo(ctx, &bv1.AccountInfoRequest{})
			if err != nil {
				return outputMsg{}, err
			}
			out := outputMsg{lines: []outLine{
				info("name     %s", term.Clean(r.Name)),
				info("account  %x", r.AccountKey),
				info("device   %x", r.DeviceKey),
				info("peer     %s", r.PeerId),
			}}
			for _, a := range r.Listen {
				out.lines = append(out.lines, info("listen   %s", a))
			}
			out.lines = append(out.lines, info("data     %s", m.dir))
			if m.mode != "" {
				out.lines = append(out.lines, info("mode     %s", m.mode))
			}
			return out, nil
		})
	}
	m.say(lineError, "unknown command "+name+": /help lists them")
	return nil
}

func (m *Model) shareContact(showQR bool) tea.Cmd {
	return m.call("/contact share", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.ContactLink(ctx, &bv1.ContactLinkRequest{})
		if err != nil {
			return outputMsg{}, err
		}
		return linkOutput("your contact link (the other side types /contact add LINK):", r.Url, r.Compact, showQR), nil
	})
}

func (m *Model) invite(showQR bool) tea.Cmd {
	c := m.selected()
	if c == nil || c.Kind != bv1.ConversationKind_CONVERSATION_KIND_GROUP {
		m.say(lineError, "/invite: select a group first (/group new NAME creates one)")
		return nil
	}
	req, title := &bv1.GroupInviteRequest{Topic: c.Topic}, fmt.Sprintf("a link to %q (share it like a password; the other side types /join LINK):", convName(c))
	return m.call("/invite", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.GroupInvite(ctx, req)
		if err != nil {
			return outputMsg{}, err
		}
		return linkOutput(title, r.Url, r.Compact, showQR), nil
	})
}

// linkOutput shows a link on a line of its own, never word-wrapped: one
// wider than the history pane takes whole rows of the screen (sysLines), so
// that selecting it copies nothing else. It goes to the clipboard too
// (OSC 52, where the terminal allows it), and its QR code shows if asked.
func linkOutput(title, url, compact string, showQR bool) outputMsg {
	out := outputMsg{clip: url, lines: []outLine{info("%s", title), {lineLink, url}}}
	if !showQR {
		return out
	}
	out.lines = append(out.lines, info("its QR code (pgup scrolls up; a terminal of 34 rows shows it whole):"))
	code, err := qr.Terminal(compact)
	if err != nil {
		out.lines = append(out.lines, outLine{lineError, err.Error()})
		return out
	}
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		out.lines = append(out.lines, outLine{linePre, l})
	}
	return out
}

func (m *Model) addContact(link string) tea.Cmd {
	return m.call("/contact add", func(ctx context.Context) (outputMsg, error) {
		r, err := m.api.ContactRequest(ctx, &bv1.ContactRequestRequest{Link: link})
		if err != nil {
			return outputMsg{}, err
		}
		return outputMsg{lines: []outLine{info("contact request to %s: %s (the node keeps trying until it is delivered)",
			shortHex(r.Account), stateName(r.State))}}, nil
	})
}

func stateName(s bv1.ContactState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "CONTACT_STATE_"))
}
