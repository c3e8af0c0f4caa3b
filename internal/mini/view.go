package mini

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
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
		rows = append(rows, fit(left[i], lw)+faint.Render("│")+fit(right[i], rw))
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
		name := convName(c)
		if room := w - 3 - lipgloss.Width(badge); lipgloss.Width(name) > room {
			name = lipgloss.NewStyle().MaxWidth(max(1, room-1)).Render(name) + "…"
		}
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

func convName(c *bv1.Conversation) string {
	if c.Name != "" {
		return c.Name
	}
	return shortHex(c.Topic)
}

// authorName is the name a message is shown under.
func authorName(it *bv1.Interaction) string {
	if it.Name != "" {
		return it.Name
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

// historyPane draws the selected conversation: its history and the system
// lines merged in time order, the newest at the bottom.
func (m *Model) historyPane(w, h int) []string {
	head := "(no conversation)"
	if c := m.selected(); c != nil {
		kind := "contact"
		if c.Kind == bv1.ConversationKind_CONVERSATION_KIND_GROUP {
			kind = "group"
		}
		head = fmt.Sprintf("%s · %s · %d peer(s) online", convName(c), kind, m.connected(c.Topic))
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
	rows := []string{title(head, m.focus == focusHistory)}
	for range body - (end - start) {
		rows = append(rows, "")
	}
	for _, l := range lines[start:end] {
		rows = append(rows, " "+l)
	}
	return rows
}

// historyLines renders the history and the system lines at width w; the
// selected message spans lines [from, to) (from is -1 if none is).
func (m *Model) historyLines(w int) (lines []string, from, to int) {
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
		lines = append(lines, m.messageLines(hist[i], w, sel)...)
		if sel {
			to = len(lines)
		}
		i++
	}
	return lines, from, to
}

func (m *Model) sysLines(l sysLine, w int) []string {
	style, text := cyan, "· "+l.text
	switch l.kind {
	case linePre:
		return []string{l.text}
	case lineLink:
		style, text = lipgloss.NewStyle(), l.text
	case lineError:
		style, text = red, "! "+l.text
	}
	var lines []string
	if longestWord(text) > w/2 {
		// Keys, addresses and links: cut them at the edge rather than
		// leave a label alone on its line.
		lines = hardWrap(text, w)
	} else {
		lines = wrap(text, w)
	}
	for i, l := range lines {
		lines[i] = style.Render(l)
	}
	return lines
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
// author and the text, and its reactions.
func (m *Model) messageLines(it *bv1.Interaction, w int, selected bool) []string {
	var out []string
	if len(it.ReplyTo) > 0 {
		quoted := it.ReplyText
		if quoted == "" {
			quoted = "a message not shown here"
		}
		out = append(out, fit(faint.Render("      ↪ "+oneLine(quoted)), w))
	}
	stamp := time.UnixMilli(it.SentAtMs).Format("15:04")
	if selected {
		stamp = reverse.Render(stamp)
	} else {
		stamp = faint.Render(stamp)
	}
	name := authorName(it)
	if it.Own {
		name = ownName.Render(name)
	} else {
		name = otherName.Render(name)
	}
	var body string
	switch {
	case it.Deleted:
		body = deleted.Render("message deleted")
	case it.Kind == bv1.InteractionKind_INTERACTION_KIND_INVITATION:
		body = "invites to a group: " + it.Body
	case it.Kind == bv1.InteractionKind_INTERACTION_KIND_UNSUPPORTED:
		body = faint.Render("(a kind of message this version cannot show)")
	default:
		body = it.Body
		if it.Edited {
			body += faint.Render(" (edited)")
		}
	}
	out = append(out, wrap(stamp+" "+name+" "+body, w)...)
	if len(it.Reactions) > 0 && !it.Deleted {
		var rs []string
		for _, r := range it.Reactions {
			s := fmt.Sprintf("[%s %d]", r.Emoji, r.Count)
			if r.Mine {
				s = bold.Render(s)
			}
			rs = append(rs, s)
		}
		out = append(out, wrap("      "+strings.Join(rs, " "), w)...)
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
		me = m.me.Name
	}
	parts := []string{bold.Render(me)}
	if c := m.selected(); c != nil {
		parts = append(parts, fmt.Sprintf("%s: %d/%d peers", convName(c), m.connected(c.Topic), len(m.peers.GetPeers())))
	} else {
		parts = append(parts, fmt.Sprintf("%d peers", len(m.peers.GetPeers())))
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
