// Package mini is `berty mini`, a terminal chat client built on Bubble Tea:
// a conversation list with unread badges, the selected conversation's
// history (replies, reactions, edits, deletions), an input line with slash
// commands, a status line with peer counts and a help bar.
//
// # Where to start
//
// Model (model.go) is the client's state machine: key presses, the daemon's
// events and API results come in as tea messages, and every API call goes
// out as a tea.Cmd against the API interface (api.go), so the model holds no
// socket and starts no goroutine, and the tests drive it with an in-memory
// fake. load.go re-reads what the daemon's events name, and people.go turns
// the differences in contacts and members into system lines; commands.go
// runs the slash commands (contacts.go: the contact requests and blocks;
// manage.go: /edit, /delete, /search, /leave, /members, /remove); view.go
// draws the screen. Run (run.go) is the I/O edge: it starts the embedded
// daemon (or dials one with Config.Remote), opens the event stream and the
// peer-status ticks, and runs the program.
//
// # Other people's text
//
// Names, texts, reactions and group names are written by other people and
// may hold escape sequences or direction overrides: every one goes through
// package term before it is drawn (the name helpers in view.go and
// people.go, term.Lines for a text, and sys for every system line), and a
// text's further lines are indented to its column, so that they cannot pass
// for lines of their own.
package mini

import (
	"context"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/term"
)

// ModelConfig configures a Model.
type ModelConfig struct {
	// API is the daemon (required).
	API API
	// Dir is the data directory, which /debug shows.
	Dir string
	// Mode describes how the daemon runs, for the status line ("embedded
	// node", "remote daemon"; empty: not shown).
	Mode string
	// Context bounds every API call (nil: context.Background()).
	Context context.Context
	// Now stamps system lines (nil: time.Now).
	Now func() time.Time
}

// callTimeout bounds one API call: the daemon answers at once (a contact
// request is queued and retried by the daemon itself), so a call that takes
// longer means the daemon is stuck.
const callTimeout = 30 * time.Second

// historyLimit is how many of a conversation's latest interactions are shown.
const historyLimit = 200

// maxLines bounds the system lines kept.
const maxLines = 500

type focus int

const (
	focusInput focus = iota
	focusList
	focusHistory
	focusCount
)

type lineKind int

const (
	lineInfo  lineKind = iota
	lineError          // an error: drawn in red
	lineLink           // a link: on rows of its own, never word-wrapped (sysLines), so it copies whole
	linePre            // preformatted (a QR code): neither wrapped nor styled
)

// sysLine is a line of the client's own in the history pane: command
// output, errors, and what the daemon's events mean.
type sysLine struct {
	at    time.Time
	seq   int
	topic string // "" for every conversation, else only this one's
	kind  lineKind
	text  string
}

// Model is the client's state. It is driven by one Bubble Tea program
// (Update and View are called from one goroutine) and is not safe for
// concurrent use.
type Model struct {
	api  API
	ctx  context.Context
	now  func() time.Time
	dir  string
	mode string

	width, height int
	focus         focus
	input         textinput.Model
	help          help.Model

	me       *bv1.AccountInfoResponse
	convs    []*bv1.Conversation
	sel      string             // the selected conversation's topic
	hist     []*bv1.Interaction // its history, oldest first
	histOf   string             // the topic hist belongs to
	msgSel   int                // the selected message (history focus), an index into hist
	replyTo  *bv1.Interaction   // the message the next text replies to
	scroll   int                // lines the history is scrolled up from the bottom
	peers    *bv1.PeersResponse
	contacts map[string]*bv1.Contact           // by account; nil until first read
	members  map[string]map[string]*bv1.Member // by topic, then member key
	marked   map[string]string                 // by topic: the last interaction marked read
	want     string                            // a topic to select once it is listed
	offline  bool                              // the daemon cannot be reached (told once)
	listed   bool                              // the conversations were read once: the baseline of unread counts

	lines []sysLine
	seq   int
	loads map[string]loadState
}

// New returns a model; its Init reads the account, conversations, contacts
// and peers.
func New(cfg ModelConfig) *Model {
	m := &Model{api: cfg.API, ctx: cfg.Context, now: cfg.Now, dir: cfg.Dir, mode: cfg.Mode,
		width: 80, height: 24, members: map[string]map[string]*bv1.Member{}, marked: map[string]string{},
		loads: map[string]loadState{}, msgSel: -1}
	if m.ctx == nil {
		m.ctx = context.Background()
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.input = textinput.New()
	m.input.Prompt = "> "
	m.input.Placeholder = "type a message, or /help"
	m.input.SetVirtualCursor(false) // the terminal's cursor: no blink ticks
	m.input.Focus()
	m.help = help.New()
	m.resize(m.width, m.height)
	m.sys("", lineInfo, "berty mini: /help lists the commands; /contact share prints your link")
	return m
}

// Init reads everything once; the event stream's resyncMsg does it again
// whenever the stream (re)opens.
func (m *Model) Init() tea.Cmd { return m.reloadAll() }

// Messages from Run: the daemon's event stream and the peer-status clock.
type (
	// eventMsg is one event of the daemon's stream.
	eventMsg struct{ ev *bv1.SubscribeResponse }
	// streamErrMsg says the stream broke; Run opens it again.
	streamErrMsg struct{ err error }
	// resyncMsg says the stream is open: re-read everything, as events may
	// have been missed before it.
	resyncMsg struct{}
	// tickMsg asks for the peer status again.
	tickMsg struct{}
)

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		if m.focus != focusInput {
			m.setFocus(focusInput)
		}
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	case eventMsg:
		return m, m.event(msg.ev)
	case streamErrMsg:
		if !m.lost(msg.err) {
			m.sys("", lineError, "event stream: "+errText(msg.err)+" (reconnecting)")
		}
		return m, nil
	case resyncMsg:
		m.reachable()
		return m, m.reloadAll()
	case tickMsg:
		return m, m.loadPeers()
	case outputMsg:
		return m, m.output(msg)
	}
	if cmd := m.loadResult(msg); cmd != nil {
		return m, cmd
	}
	return m, nil
}

func (m *Model) resize(w, h int) {
	m.width, m.height = w, h
	m.input.SetWidth(max(1, w-lipgloss.Width(m.input.Prompt)-1))
	m.help.SetWidth(w)
}

func (m *Model) setFocus(f focus) {
	m.focus = f
	if f == focusInput {
		m.input.Focus()
	} else {
		m.input.Blur()
	}
	if f == focusHistory && (m.msgSel < 0 || m.msgSel >= len(m.hist)) {
		m.msgSel = len(m.hist) - 1
	}
}

// key handles a key press.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "ctrl+c":
		return tea.Quit
	case "esc":
		if m.replyTo != nil {
			m.replyTo = nil
			m.setPrompt()
			return nil
		}
		return tea.Quit
	case "tab":
		m.setFocus((m.focus + 1) % focusCount)
		return nil
	case "shift+tab":
		m.setFocus((m.focus + focusCount - 1) % focusCount)
		return nil
	case "up", "down":
		d := 1
		if k.String() == "up" {
			d = -1
		}
		if m.focus == focusHistory {
			if len(m.hist) > 0 {
				m.msgSel = min(max(m.msgSel+d, 0), len(m.hist)-1)
			}
			return nil
		}
		return m.selectIndex(m.selIndex() + d)
	case "pgup":
		lines, _, _ := m.historyLines(m.textWidth())
		m.scroll = min(m.scroll+max(1, m.bodyHeight()-1), max(0, len(lines)-m.bodyHeight()))
		return nil
	case "pgdown":
		m.scroll = max(0, m.scroll-max(1, m.bodyHeight()-1))
		return nil
	case "enter":
		switch m.focus {
		case focusList:
			m.setFocus(focusInput)
			return nil
		case focusHistory:
			m.startReply()
			return nil
		}
		return m.submit()
	}
	if m.focus == focusHistory {
		switch k.String() {
		case "r":
			m.startReply()
			return nil
		case "+":
			if it := m.selectedMessage(); it != nil {
				return m.react(it, "👍")
			}
			return nil
		}
	}
	if m.focus != focusInput {
		if k.Text == "" {
			return nil
		}
		m.setFocus(focusInput) // typing goes to the input line from any pane
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return cmd
}

func (m *Model) startReply() {
	if it := m.selectedMessage(); it != nil && !it.Deleted {
		m.replyTo = it
		m.setPrompt()
		m.setFocus(focusInput)
	}
}

func (m *Model) setPrompt() {
	m.input.Prompt = "> "
	if m.replyTo != nil {
		m.input.Prompt = "↪ " + clip(authorName(m.replyTo), 20) + "> "
	}
	m.resize(m.width, m.height)
}

// submit sends the input line: a slash command, or a text to the selected
// conversation.
func (m *Model) submit() tea.Cmd {
	text := strings.TrimSpace(m.input.Value())
	if text == "" {
		return nil
	}
	m.input.SetValue("")
	if strings.HasPrefix(text, "/") {
		return m.command(text)
	}
	c := m.selected()
	if c == nil {
		m.sys("", lineError, "no conversation to send to: add a contact (/contact add LINK) or create a group (/group new NAME)")
		return nil
	}
	req := &bv1.SendTextRequest{Topic: c.Topic, Body: text}
	if m.replyTo != nil {
		req.ReplyTo = m.replyTo.Id
		m.replyTo = nil
		m.setPrompt()
	}
	m.scroll = 0
	return m.call("send", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.SendText(ctx, req)
		return outputMsg{reload: string(req.Topic)}, err
	})
}

func (m *Model) react(it *bv1.Interaction, emoji string) tea.Cmd {
	req := &bv1.ReactRequest{Topic: it.Topic, Target: it.Id, Emoji: emoji}
	for _, r := range it.Reactions {
		if r.Emoji == emoji && r.Mine {
			req.Remove = true // the same key takes one's reaction back
		}
	}
	return m.call("react", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.React(ctx, req)
		return outputMsg{reload: string(req.Topic)}, err
	})
}

// selected returns the selected conversation, or nil.
func (m *Model) selected() *bv1.Conversation {
	if i := m.selIndex(); i >= 0 {
		return m.convs[i]
	}
	return nil
}

func (m *Model) selIndex() int {
	for i, c := range m.convs {
		if string(c.Topic) == m.sel {
			return i
		}
	}
	return -1
}

func (m *Model) selectedMessage() *bv1.Interaction {
	if m.msgSel >= 0 && m.msgSel < len(m.hist) {
		return m.hist[m.msgSel]
	}
	return nil
}

// selectIndex selects the i-th conversation (clamped) and reads its
// history.
func (m *Model) selectIndex(i int) tea.Cmd {
	if len(m.convs) == 0 {
		return nil
	}
	i = min(max(i, 0), len(m.convs)-1)
	return m.selectTopic(string(m.convs[i].Topic))
}

func (m *Model) selectTopic(topic string) tea.Cmd {
	if topic == m.sel {
		return nil
	}
	m.sel, m.hist, m.histOf, m.msgSel, m.scroll = topic, nil, "", -1, 0
	if m.replyTo != nil {
		m.replyTo = nil
		m.setPrompt()
	}
	return m.loadHistory(topic)
}

// say appends a system line to the conversation shown.
func (m *Model) say(kind lineKind, text string) { m.sys(m.sel, kind, text) }

// sys appends a system line, stamped now. Its text is cleaned here, the
// one way in: command output and the daemon's errors may quote what other
// people wrote (a name, a message).
func (m *Model) sys(topic string, kind lineKind, text string) {
	m.seq++
	m.lines = append(m.lines, sysLine{at: m.now(), seq: m.seq, topic: topic, kind: kind, text: term.Clean(text)})
	if len(m.lines) > maxLines {
		m.lines = append(m.lines[:0:0], m.lines[len(m.lines)-maxLines:]...)
	}
}
