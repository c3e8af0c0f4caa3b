package main

// Text output of what other people wrote. Message bodies, names, emoji,
// conversation and group names come from peers: every one goes through
// package term before it reaches the terminal, so that it cannot carry
// escape sequences, control characters or bidirectional overrides, and a
// multi-line text gets its continuation lines indented under the text's
// column, so that it cannot pass for lines of its own (another message, a
// line of this program). --json output is exact: encoding/json escapes
// control characters.

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/term"
)

// width is how many terminal columns s takes (wide characters take two).
func width(s string) int { return lipgloss.Width(s) }

// pad cleans s and pads it with spaces to n columns.
func pad(s string, n int) string {
	s = term.Clean(s)
	if w := width(s); w < n {
		s += strings.Repeat(" ", n-w)
	}
	return s
}

// writeText writes prefix, then the lines of text (cleaned): the first
// after prefix, the others indented to its width; suffix ends the last.
// prefix and suffix are this program's, already safe.
func writeText(w io.Writer, prefix, text, suffix string) {
	lines := term.Lines(text)
	indent := strings.Repeat(" ", width(prefix))
	for i, l := range lines {
		lead := indent
		if i == 0 {
			lead = prefix
		}
		if i == len(lines)-1 {
			l += suffix
		}
		fmt.Fprintln(w, strings.TrimRight(lead+l, " "))
	}
}

// excerpt is the start of a text on one line, cut at a word after about n
// characters, with an ellipsis if cut.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(term.Clean(s)), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if cut++; cut > n {
			s = s[:i]
			break
		}
	}
	if i := strings.LastIndexByte(s, ' '); i > n/2 {
		s = s[:i]
	}
	return s + "…"
}

// plural is "1 peer", "2 peers".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// reactions summarizes a message's reactions: "👍 2 🎉 1".
func reactions(rs []*bv1.Reaction) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %d", term.Clean(r.Emoji), r.Count))
	}
	return strings.Join(parts, " ")
}

// body is what the text column shows for an interaction: its text, or
// what stands for it (a tombstone, an invitation).
func body(it *bv1.Interaction) string {
	switch {
	case it.Deleted:
		return "[deleted]"
	case it.Kind == bv1.InteractionKind_INTERACTION_KIND_INVITATION:
		return fmt.Sprintf("[an invitation to the group %q]", term.Clean(it.Body))
	case it.Kind != bv1.InteractionKind_INTERACTION_KIND_TEXT:
		return "[a message this version of berty cannot show]"
	}
	return it.Body
}

// quote is how a reply shows what it answers, on one line: "(↳ alice:
// first words…) ". names maps the IDs of known messages to their authors.
func quote(it *bv1.Interaction, names map[string]string) string {
	if len(it.ReplyTo) == 0 {
		return ""
	}
	who := ""
	if n, ok := names[string(it.ReplyTo)]; ok {
		who = term.Clean(n) + ": "
	}
	if it.ReplyText == "" {
		return "(↳ " + who + "a message not here, or deleted) "
	}
	return "(↳ " + who + excerpt(it.ReplyText, 40) + ") "
}

// annotations end a message's last line: "(edited)", its reactions, and
// with ids its ID.
func annotations(it *bv1.Interaction, edited, ids bool) string {
	var s string
	if edited && it.Edited && !it.Deleted {
		s += " (edited)"
	}
	if r := reactions(it.Reactions); r != "" && !it.Deleted {
		s += "  " + r
	}
	if ids {
		s += "  [" + short(it.Id) + "]"
	}
	return s
}
