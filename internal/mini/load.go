package mini

import (
	"context"
	"slices"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// The daemon's events say what to re-read, not what changed. Each read is
// one of a few resources (the conversation list, a history, ...); a read
// asked for while the same one is in flight runs once more when it returns,
// so a burst of events costs two reads, not one per event.

type loadState struct{ busy, again bool }

const (
	resAccount  = "account"
	resConvs    = "convs"
	resContacts = "contacts"
	resPeers    = "peers"
	resHistory  = "history:"
	resMembers  = "members:"
)

// load returns read unless a read of key is in flight, in which case it
// asks for one more read when that one returns.
func (m *Model) load(key string, read tea.Cmd) tea.Cmd {
	s := m.loads[key]
	if s.busy {
		m.loads[key] = loadState{busy: true, again: true}
		return nil
	}
	m.loads[key] = loadState{busy: true}
	return read
}

// done marks the read of key finished, and reports whether it must run again.
func (m *Model) done(key string) bool {
	again := m.loads[key].again
	delete(m.loads, key)
	return again
}

// Results of reads.
type (
	accountMsg struct {
		info *bv1.AccountInfoResponse
		err  error
	}
	convsMsg struct {
		convs []*bv1.Conversation
		err   error
	}
	historyMsg struct {
		topic string
		items []*bv1.Interaction // newest first, as the API returns them
		err   error
	}
	contactsMsg struct {
		contacts []*bv1.Contact
		err      error
	}
	membersMsg struct {
		topic   string
		members []*bv1.Member
		err     error
	}
	peersMsg struct {
		peers *bv1.PeersResponse
		err   error
	}
)

func (m *Model) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, callTimeout)
}

func (m *Model) loadAccount() tea.Cmd {
	return m.load(resAccount, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.AccountInfo(ctx, &bv1.AccountInfoRequest{})
		return accountMsg{r, err}
	})
}

func (m *Model) loadConvs() tea.Cmd {
	return m.load(resConvs, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.Conversations(ctx, &bv1.ConversationsRequest{})
		return convsMsg{r.GetConversations(), err}
	})
}

func (m *Model) loadHistory(topic string) tea.Cmd {
	return m.load(resHistory+topic, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.History(ctx, &bv1.HistoryRequest{Topic: []byte(topic), Limit: historyLimit})
		return historyMsg{topic, r.GetInteractions(), err}
	})
}

func (m *Model) loadContacts() tea.Cmd {
	return m.load(resContacts, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.ContactList(ctx, &bv1.ContactListRequest{})
		return contactsMsg{r.GetContacts(), err}
	})
}

func (m *Model) loadMembers(topic string) tea.Cmd {
	return m.load(resMembers+topic, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.GroupMembers(ctx, &bv1.GroupMembersRequest{Topic: []byte(topic)})
		return membersMsg{topic, r.GetMembers(), err}
	})
}

func (m *Model) loadPeers() tea.Cmd {
	return m.load(resPeers, func() tea.Msg {
		ctx, cancel := m.callCtx()
		defer cancel()
		r, err := m.api.Peers(ctx, &bv1.PeersRequest{})
		return peersMsg{r, err}
	})
}

func (m *Model) reloadAll() tea.Cmd {
	cmds := []tea.Cmd{m.loadAccount(), m.loadConvs(), m.loadContacts(), m.loadPeers()}
	if m.sel != "" {
		cmds = append(cmds, m.loadHistory(m.sel))
	}
	return tea.Batch(cmds...)
}

// event turns one event of the daemon's stream into the reads it calls for.
func (m *Model) event(ev *bv1.SubscribeResponse) tea.Cmd {
	topic := string(ev.Topic)
	switch ev.Kind {
	case bv1.EventKind_EVENT_KIND_CONVERSATION:
		return m.loadConvs()
	case bv1.EventKind_EVENT_KIND_INTERACTION:
		if topic == m.sel {
			return m.loadHistory(topic)
		}
		return nil
	case bv1.EventKind_EVENT_KIND_MEMBER:
		// A contact request becomes accepted on the requester's side when
		// the other side shows up in the contact group: a member event.
		return tea.Batch(m.loadMembers(topic), m.loadPeers(), m.loadConvs(), m.loadContacts())
	case bv1.EventKind_EVENT_KIND_CONTACT:
		return tea.Batch(m.loadContacts(), m.loadConvs())
	}
	// Unspecified: the daemon dropped events for this client.
	m.sys("", lineInfo, "missed some events: reading everything again")
	return m.reloadAll()
}

// loadResult applies the result of a read; it returns nil for messages
// that are not results.
func (m *Model) loadResult(msg tea.Msg) tea.Cmd {
	var again tea.Cmd
	switch msg := msg.(type) {
	case accountMsg:
		if m.done(resAccount) {
			again = m.loadAccount()
		}
		if m.failed("read the account", msg.err) {
			return again
		}
		m.me = msg.info
	case convsMsg:
		if m.done(resConvs) {
			again = m.loadConvs()
		}
		if m.failed("list conversations", msg.err) {
			return again
		}
		return tea.Batch(again, m.setConvs(msg.convs))
	case historyMsg:
		if m.done(resHistory + msg.topic) {
			again = m.loadHistory(msg.topic)
		}
		if msg.topic != m.sel || m.failed("read the history", msg.err) {
			return again
		}
		m.hist = slices.Clone(msg.items)
		slices.Reverse(m.hist)
		m.histOf = msg.topic
		if m.msgSel >= len(m.hist) {
			m.msgSel = len(m.hist) - 1
		}
		return tea.Batch(again, m.markRead())
	case contactsMsg:
		if m.done(resContacts) {
			again = m.loadContacts()
		}
		if m.failed("list contacts", msg.err) {
			return again
		}
		m.setContacts(msg.contacts)
	case membersMsg:
		if m.done(resMembers + msg.topic) {
			again = m.loadMembers(msg.topic)
		}
		if m.failed("list members", msg.err) {
			return again
		}
		m.setMembers(msg.topic, msg.members)
	case peersMsg:
		if m.done(resPeers) {
			again = m.loadPeers()
		}
		if m.failed("list peers", msg.err) {
			return again
		}
		m.peers = msg.peers
	default:
		return nil
	}
	return again
}

// failed shows err, if any, as a red system line.
func (m *Model) failed(what string, err error) bool {
	if err == nil {
		m.reachable()
		return false
	}
	if m.ctx.Err() == nil && !m.lost(err) { // not an error of ours: we are quitting
		m.sys("", lineError, what+": "+errText(err))
	}
	return true
}

// lost tells, once, that the daemon cannot be reached, and reports whether
// err says so: every call fails until it is back, and one line says it.
func (m *Model) lost(err error) bool {
	if !unreachable(err) {
		return false
	}
	if !m.offline {
		m.offline = true
		m.sys("", lineError, "the daemon is unreachable: "+errText(err)+" (retrying)")
	}
	return true
}

// reachable notes that a call went through.
func (m *Model) reachable() {
	if m.offline {
		m.offline = false
		m.sys("", lineInfo, "connected to the daemon again")
	}
}

func (m *Model) setConvs(convs []*bv1.Conversation) tea.Cmd {
	ring := m.listed && m.newUnread(convs)
	m.convs, m.listed = convs, true
	var cmds []tea.Cmd
	if ring {
		cmds = append(cmds, tea.Raw("\a")) // the terminal's bell: a new message elsewhere
	}
	for _, c := range convs {
		if _, ok := m.members[string(c.Topic)]; !ok {
			m.members[string(c.Topic)] = nil // read once as the baseline
			cmds = append(cmds, m.loadMembers(string(c.Topic)))
		}
	}
	switch {
	case m.want != "" && m.index(m.want) >= 0:
		cmds = append(cmds, m.selectTopic(m.want))
		m.want = ""
	case m.selIndex() < 0:
		if m.sel != "" { // gone (left): its history must not stay on screen
			m.sel, m.hist, m.histOf, m.msgSel, m.scroll = "", nil, "", -1, 0
			if m.replyTo != nil {
				m.replyTo = nil
				m.setPrompt()
			}
		}
		cmds = append(cmds, m.selectIndex(0)) // none if none is listed
	}
	cmds = append(cmds, m.markRead())
	return tea.Batch(cmds...)
}

// newUnread reports whether a conversation other than the one shown, and
// not muted, has more unread messages in convs than the model knew of.
func (m *Model) newUnread(convs []*bv1.Conversation) bool {
	for _, c := range convs {
		if string(c.Topic) == m.sel || m.muted(c) {
			continue
		}
		before := int32(0)
		if i := m.index(string(c.Topic)); i >= 0 {
			before = m.convs[i].Unread
		}
		if c.Unread > before {
			return true
		}
	}
	return false
}

// muted reports whether c is muted now.
func (m *Model) muted(c *bv1.Conversation) bool { return c.MutedUntilMs > m.now().UnixMilli() }

// unread counts the unread messages of conversations that are not muted.
func (m *Model) unread() int {
	n := 0
	for _, c := range m.convs {
		if !m.muted(c) {
			n += int(c.Unread)
		}
	}
	return n
}

func (m *Model) index(topic string) int {
	for i, c := range m.convs {
		if string(c.Topic) == topic {
			return i
		}
	}
	return -1
}

// markRead moves the read marker of the shown conversation to its newest
// interaction, once per interaction: a person who sees it has read it.
func (m *Model) markRead() tea.Cmd {
	c := m.selected()
	if c == nil || c.Unread == 0 || m.histOf != m.sel || len(m.hist) == 0 {
		return nil
	}
	newest := m.hist[len(m.hist)-1]
	if m.marked[m.sel] == string(newest.Id) {
		return nil
	}
	m.marked[m.sel] = string(newest.Id)
	c.Unread = 0 // until the list is read again
	req := &bv1.MarkReadRequest{Topic: c.Topic, UpTo: newest.Id}
	return m.call("mark read", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.MarkRead(ctx, req)
		return outputMsg{}, err
	})
}
