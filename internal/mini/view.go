package mini

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/term"
)

// The screen, top to bottom: the two panes (conversations | history), a
// rule, the input line, the status line and the help bar.
const (
	minWidth  = 40
	minHeight = 10
	chrome    = 4 // rows below the panes
)

var (
	faint     = lipgloss.NewStyle().Faint(true)
	bold      = lipgloss.NewStyle().Bold(true)
	reverse   = lipgloss.NewStyle().Reverse(true)
	red       = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	cyan      = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	green     = lipgloss.NewStyle().Foreground(lipgloss.Color("10"))
	ownName   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	otherName = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("10"))
	deleted   = lipgloss.NewStyle().Faint(true).Italic(true)
)

// View implements tea.Model.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "berty mini"
	if n := m.unread(); n > 0 {
		v.WindowTitle = fmt.Sprintf("berty mini (%d)", n)
	}
	if m.focus == focusInput && m.width >= minWidth && m.height >= minHeight {
		if c := m.input.Cursor(); c != nil {
			c.Position.Y += m.paneHeight() + 1
			v.Cursor = c
		}
	}
	return v
}

func (m *Model) paneHeight() int { return m.height - chrome }

// bodyHeight is the history's height (the pane less its title).
func (m *Model) bodyHeight() int { return m.paneHeight() - 1 }

func (m *Model) listWidth() int { return min(28, max(14, m.width/4)) }

// textWidth is the width of the history's text: the pane less a space
// after the rule.
func (m *Model) textWidth() int { return m.width - m.listWidth() - 2 }

// render draws the whole screen as exactly m.height lines of m.width cells.
func (m *Model) render() string {
	if m.width < minWidth || m.height < minHeight {
		return fmt.Sprintf("berty mini needs a terminal of at least %dx%d (this one is %dx%d)", minWidth, minHeight, m.width, m.height)
	}
	lw := m.listWidth()
	rw := m.width - lw - 1
	ph := m.paneHeight()
	left := m.listPane(lw, ph)
	right := m.historyPane(rw, ph)
	rows := make([]string, 0, m.height)
	for i := range ph {
		if right[i].wide {
			rows = append(rows, fit(right[i].text, m.width))
			continue
		}
		rows = append(rows, fit(left[i], lw)+faint.Render("│")+fit(right[i].text, rw))
	}
	rows = append(rows, faint.Render(strings.Repeat("─", lw)+"┴"+strings.Repeat("─", rw)))
	rows = append(rows, fit(m.input.View(), m.width))
	rows = append(rows, fit(m.statusLine(), m.width))
	rows = append(rows, fit(m.help.ShortHelpView(m.bindings()), m.width))
	return strings.Join(rows, "\n")
}

// fit cuts or pads s to exactly w cells.
func fit(s string, w int) string {
	if lipgloss.Width(s) > w {
		s = lipgloss.NewStyle().MaxWidth(w).Render(s)
	}
	if d := w - lipgloss.Width(s); d > 0 {
		s += strings.Repeat(" ", d)
	}
	return s
}

func title(s string, focused bool) string {
	if focused {
		return reverse.Bold(true).Render(" " + s + " ")
	}
	return bold.Render(" " + s)
}

// listPane draws the conversations, scrolled to keep the selected one in
// view: a peer dot (green when one of its peers is connected), the name
// and the unread badge.
func (m *Model) listPane(w, h int) []string {
	rows := []string{title("Conversations", m.focus == focusList)}
	if len(m.convs) == 0 {
		rows = append(rows, faint.Render(" (none yet)"))
	}
	first := max(0, m.selIndex()-(h-2))
	for i := first; i < len(m.convs) && len(rows) < h; i++ {
		c := m.convs[i]
		badge := ""
		if c.Unread > 0 {
			badge = fmt.Sprintf(" (%d)", c.Unread)
		}
		dot := faint.Render("○")
		if m.connected(c.Topic) > 0 {
			dot = green.Render("●")
		}
		name := clip(convName(c), w-3-lipgloss.Width(badge))
		if string(c.Topic) == m.sel {
			text := name + badge
			if m.focus == focusList {
				text = reverse.Render(text)
			} else {
				text = bold.Render(text)
			}
			rows = append(rows, "▸"+dot+" "+text)
			continue
		}
		rows = append(rows, " "+dot+" "+name+bold.Render(badge))
	}
	for len(rows) < h {
		rows = append(rows, "")
	}
	return rows
}

// clip cuts s to at most w cells, with an ellipsis if it was cut.
func clip(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(max(1, w-1)).Render(s) + "…"
}

// The names below are chosen by other people (a contact, a member, whoever
// named a group): each comes out of term.Clean, so that it can be printed.

func convName(c *bv1.Conversation) string {
	if c.Name != "" {
		return term.Clean(c.Name)
	}
	return shortHex(c.Topic)
}

// authorName is the name a message is shown under.
func authorName(it *bv1.Interaction) string {
	if it.Name != "" {
		return term.Clean(it.Name)
	}
	return shortHex(it.Member)
}

// connected is how many of a conversation's peers are connected.
func (m *Model) connected(topic []byte) int32 {
	for _, g := range m.peers.GetGroups() {
		if string(g.Topic) == string(topic) {
			return g.Connected
		}
	}
	return 0
}

// row is a row of the history pane, or one across the whole screen (wide):
// a link or a QR code too wide for the pane is drawn from the screen's left
// edge, with nothing else on its rows, so that it can be copied or scanned.
type row struct {
	text string
	wide bool
}

// historyPane draws the selected conversation: its history and the system
// lines merged in time order, the newest at the bottom.
func (m *Model) historyPane(w, h int) []row {
	head := "(no conversation)"
	if c := m.selected(); c != nil {
		kind := "contact"
		if c.Kind == bv1.ConversationKind_CONVERSATION_KIND_GROUP {
			kind = "group"
		}
		head = fmt.Sprintf("%s · %s · %s online", convName(c), kind, count(int(m.connected(c.Topic)), "peer", "peers"))
	}
	lines, selFrom, selTo := m.historyLines(m.textWidth())
	body := h - 1
	// m.scroll lines up from the bottom, but the selected message in view.
	end := len(lines) - min(m.scroll, max(0, len(lines)-body))
	switch {
	case selFrom < 0:
	case selTo > end:
		end = selTo
	case selFrom < end-body:
		end = min(len(lines), selFrom+body)
	}
	start := max(0, end-body)
	rows := []row{{text: title(head, m.focus == focusHistory)}}
	for range body - (end - start) {
		rows = append(rows, row{})
	}
	for _, l := range lines[start:end] {
		if !l.wide {
			l.text = " " + l.text
		}
		rows = append(rows, l)
	}
	return rows
}

// historyLines renders the history and the system lines at width w; the
// selected message spans lines [from, to) (from is -1 if none is).
func (m *Model) historyLines(w int) (lines []row, from, to int) {
	from, to = -1, -1
	var hist []*bv1.Interaction
	if m.histOf == m.sel {
		hist = m.hist
	}
	var sys []sysLine
	for _, l := range m.lines {
		if l.topic == "" || l.topic == m.sel {
			sys = append(sys, l)
		}
	}
	i, j := 0, 0
	for i < len(hist) || j < len(sys) {
		if j < len(sys) && (i == len(hist) || sys[j].at.Before(time.UnixMilli(hist[i].SentAtMs))) {
			lines = append(lines, m.sysLines(sys[j], w)...)
			j++
			continue
		}
		sel := m.focus == focusHistory && i == m.msgSel
		if sel {
			from = len(lines)
		}
		for _, l := range m.messageLines(hist[i], w, sel) {
			lines = append(lines, row{text: l})
		}
		if sel {
			to = len(lines)
		}
		i++
	}
	return lines, from, to
}

// sysLines renders a system line. Its text is clean (sys cleans it); a
// wrapped line goes on under the text, past the bullet, so that no part of
// it can pass for a line of its own.
func (m *Model) sysLines(l sysLine, w int) []row {
	switch l.kind {
	case linePre, lineLink:
		// Neither wrapped nor styled. A link wider than the pane is cut
		// into rows across the whole screen, nothing added: what a person
		// selects there is the link and line breaks, which the link parser
		// skips (and /contact share and /invite put it on the clipboard).
		if lipgloss.Width(l.text) <= w {
			return []row{{text: l.text}}
		}
		var rows []row
		for _, p := range hardWrap(l.text, m.width) {
			rows = append(rows, row{text: p, wide: true})
		}
		return rows
	}
	style, head := cyan, "· "
	if l.kind == lineError {
		style, head = red, "! "
	}
	var lines []string
	if longestWord(l.text) > w/2 {
		// Keys and addresses: cut them at the edge rather than leave a
		// label alone on its line.
		lines = hardWrap(l.text, max(1, w-2))
		for i := range lines {
			if i == 0 {
				lines[i] = head + lines[i]
			} else {
				lines[i] = "  " + lines[i]
			}
		}
	} else {
		lines = hang(head, []string{l.text}, w)
	}
	rows := make([]row, len(lines))
	for i, l := range lines {
		rows[i] = row{text: style.Render(l)}
	}
	return rows
}

func longestWord(s string) int {
	n := 0
	for _, f := range strings.Fields(s) {
		n = max(n, lipgloss.Width(f))
	}
	return n
}

// hardWrap cuts plain text into lines of at most w cells.
func hardWrap(s string, w int) []string {
	var lines []string
	var b strings.Builder
	n := 0
	for _, r := range s {
		rw := lipgloss.Width(string(r))
		if n+rw > w && n > 0 {
			lines = append(lines, b.String())
			b.Reset()
			n = 0
		}
		b.WriteRune(r)
		n += rw
	}
	return append(lines, b.String())
}

// messageLines renders one interaction: the text it replies to, the
// author and the text, and its reactions. Everything from the author is
// cleaned; the lines of a text and its wrapped lines all start at the
// text's column, so that a line of a text cannot pass for a message, a
// reply or a system line.
func (m *Model) messageLines(it *bv1.Interaction, w int, selected bool) []string {
	var out []string
	if len(it.ReplyTo) > 0 {
		quoted := term.Clean(it.ReplyText)
		if quoted == "" {
			quoted = "a message not shown here"
		}
		out = append(out, fit(faint.Render(replyIndent+"↪ "+oneLine(quoted)), w))
	}
	stamp := time.UnixMilli(it.SentAtMs).Format("15:04")
	// A long name is cut, so that the text keeps half the width.
	name := clip(authorName(it), w/2-lipgloss.Width(stamp)-2)
	if selected {
		stamp = reverse.Render(stamp)
	} else {
		stamp = faint.Render(stamp)
	}
	if it.Own {
		name = ownName.Render(name)
	} else {
		name = otherName.Render(name)
	}
	var body []string
	switch {
	case it.Deleted:
		body = []string{deleted.Render("message deleted")}
	case it.Kind == bv1.InteractionKind_INTERACTION_KIND_INVITATION:
		body = term.Lines(it.Body)
		body[0] = "invites to a group: " + body[0]
	case it.Kind == bv1.InteractionKind_INTERACTION_KIND_UNSUPPORTED:
		body = []string{faint.Render("(a kind of message this version cannot show)")}
	default:
		body = term.Lines(it.Body)
		if it.Edited {
			body[len(body)-1] += faint.Render(" (edited)")
		}
	}
	out = append(out, hang(stamp+" "+name+" ", body, w)...)
	if len(it.Reactions) > 0 && !it.Deleted {
		var rs []string
		for _, r := range it.Reactions {
			s := fmt.Sprintf("[%s %d]", term.Clean(r.Emoji), r.Count)
			if r.Mine {
				s = bold.Render(s)
			}
			rs = append(rs, s)
		}
		out = append(out, hang(replyIndent, []string{strings.Join(rs, " ")}, w)...)
	}
	return out
}

// replyIndent starts the lines around a message (what it replies to, its
// reactions): less than a text's column, which is at least "15:04 x ".
const replyIndent = "      "

// hang lays out lines after head: the first starts after head, and every
// other line, and every wrapped part of one, starts at head's width.
func hang(head string, lines []string, w int) []string {
	ind := lipgloss.Width(head)
	pad := strings.Repeat(" ", ind)
	var out []string
	for i, l := range lines {
		for j, p := range wrap(l, max(1, w-ind)) {
			if i == 0 && j == 0 {
				out = append(out, head+p)
			} else {
				out = append(out, pad+p)
			}
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func wrap(s string, w int) []string {
	return strings.Split(lipgloss.Wrap(s, w, " "), "\n")
}

// statusLine: who we are, the selected conversation's peers, all peers,
// and how the daemon runs.
func (m *Model) statusLine() string {
	me := "…"
	if m.me != nil {
		me = term.Clean(m.me.Name) // another device of the account may have set it
	}
	parts := []string{bold.Render(me)}
	peers := len(m.peers.GetPeers())
	if c := m.selected(); c != nil {
		parts = append(parts, fmt.Sprintf("%s: %d/%s", convName(c), m.connected(c.Topic), count(peers, "peer", "peers")))
	} else {
		parts = append(parts, count(peers, "peer", "peers"))
	}
	if m.offline {
		parts = append(parts, red.Render("daemon unreachable"))
	}
	if m.replyTo != nil {
		parts = append(parts, "replying (esc cancels)")
	}
	if m.mode != "" {
		parts = append(parts, m.mode)
	}
	return faint.Render(" " + strings.Join(parts, " · "))
}

// count is n and the noun that goes with it: "1 peer", "2 peers".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// bindings are the help bar's keys, for the focused pane.
func (m *Model) bindings() []key.Binding {
	b := func(k, desc string) key.Binding { return key.NewBinding(key.WithKeys(k), key.WithHelp(k, desc)) }
	tab := b("tab", "switch pane")
	quit := b("ctrl+c/esc", "quit")
	if m.replyTo != nil {
		quit = b("esc", "cancel reply")
	}
	cmds := b("/help", "commands")
	switch m.focus {
	case focusHistory:
		return []key.Binding{tab, b("↑/↓", "select message"), b("enter/r", "reply"), b("+", "react 👍"), b("pgup/pgdn", "scroll"), quit, cmds}
	case focusList:
		return []key.Binding{tab, b("↑/↓", "select"), b("enter", "write"), quit, cmds}
	}
	return []key.Binding{tab, b("↑/↓", "select"), b("enter", "send"), quit, cmds, b("pgup/pgdn", "scroll")}
}
