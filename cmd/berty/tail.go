package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
)

// tailWindow is how many of a conversation's latest interactions tail
// re-reads on each of its events: the new message, or the one an edit,
// delete or reaction changed, is among them unless that many came after it.
const tailWindow = 50

// printed is what tail printed of a message, to tell what changed since.
type printed struct {
	body      string
	edited    bool
	deleted   bool
	reactions string
}

func printedOf(it *bv1.Interaction) printed {
	return printed{body: it.Body, edited: it.Edited, deleted: it.Deleted, reactions: reactions(it.Reactions)}
}

// tailer prints each message once, one line each (plus indented
// continuation lines), and then a line for each change to a message it
// printed: an edit, a delete, its reactions. With json it prints each
// message as one JSON object per line, and a changed message again, whole,
// with the same id. It is not safe for concurrent use.
type tailer struct {
	w     io.Writer
	json  bool
	ids   bool               // end each line with the message's ID
	shown map[string]printed // what was printed, by message ID
	names map[string]string  // the author of each message seen, by ID: reply quotes name them
}

func newTailer(w io.Writer, jsonOut, ids bool) *tailer {
	return &tailer{w: w, json: jsonOut, ids: ids, shown: map[string]printed{}, names: map[string]string{}}
}

// mark records its as printed without printing them: tail then prints
// only what comes after, and the changes to them.
func (t *tailer) mark(its []*bv1.Interaction) {
	for _, it := range its {
		t.shown[string(it.Id)] = printedOf(it)
		t.names[string(it.Id)] = it.Name
	}
}

// print prints the messages of its (oldest first) not printed yet, and a
// line for each printed one that changed.
func (t *tailer) print(its []*bv1.Interaction) {
	for _, it := range its {
		t.names[string(it.Id)] = it.Name
	}
	for _, it := range its {
		was, ok := t.shown[string(it.Id)]
		now := printedOf(it)
		if ok && was == now {
			continue
		}
		t.shown[string(it.Id)] = now
		switch {
		case t.json:
			b, _ := json.Marshal(interactionJSON(it))
			fmt.Fprintln(t.w, string(b))
		case !ok:
			t.line(it)
		default:
			t.update(it, was)
		}
	}
}

// prefix is the start of a message's lines: its time, its conversation
// and its author.
func (t *tailer) prefix(it *bv1.Interaction) string {
	return fmt.Sprintf("%s %s %s ", time.UnixMilli(it.SentAtMs).Format("15:04:05"), short(it.Topic), pad(it.Name, 10))
}

// line prints a message.
func (t *tailer) line(it *bv1.Interaction) {
	text := body(it)
	if !it.Deleted {
		text = quote(it, t.names) + text
	}
	writeText(t.w, t.prefix(it), text, annotations(it, true, t.ids))
}

// update prints what changed about a message printed as was, on a line of
// its own that starts as the message's did.
func (t *tailer) update(it *bv1.Interaction, was printed) {
	p := t.prefix(it)
	switch {
	case it.Deleted:
		writeText(t.w, p, "[deleted]", annotations(it, false, t.ids))
	case it.Body != was.body || it.Edited != was.edited:
		writeText(t.w, p+"(edited) ", body(it), annotations(it, false, t.ids))
	default:
		r := reactions(it.Reactions)
		if r == "" {
			r = "none"
		}
		writeText(t.w, p, fmt.Sprintf("reactions to %q: %s", excerpt(it.Body, 30), r), annotations(&bv1.Interaction{Id: it.Id}, false, t.ids))
	}
}

func tailCmd(x *cli, withData func(*cobra.Command) *cobra.Command) *cobra.Command {
	var (
		last        int
		ids, follow bool
	)
	c := withData(&cobra.Command{
		Use:   "tail [CONV]",
		Short: "Print a conversation's (or every conversation's) latest messages, then new ones as they come",
		Long: `tail prints the latest --last messages of CONV (or of every conversation), one
line each: time, conversation, author, text. The lines of a multi-line text after
the first are indented under the text. An edited message ends with "(edited)",
a deleted one shows "[deleted]", a reply starts with a quote of what it answers
("(↳ alice: first words…)"), and reactions end the line ("👍 2 🎉 1").

It then prints new messages as they come, and a line for each change to a
message it printed (an edit, a delete, reactions), until Ctrl-C; with
--follow=false it exits after the history. With --json it prints one object per
line, and a changed message again, whole, with the same id.`,
		Example:           "  berty tail\n  berty tail friends --last 50 --ids\n  berty tail alice --follow=false --json   # the latest messages, for a script",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			if last < 0 || last > lookback {
				return usagef("--last takes 0 to %d messages, got %d", lookback, last)
			}
			ctx, stop := run(cmd)
			defer stop()
			return x.withClient(func(c *client.Client) error {
				var only []byte
				if len(args) == 1 {
					cv, err := x.conv(cmd, c, args[0])
					if err != nil {
						return err
					}
					only = cv.Topic
				}
				t := newTailer(cmd.OutOrStdout(), x.json, ids)
				// Subscribe first, so nothing falls between the history and
				// the stream.
				var stream *connect.ServerStreamForClient[bv1.SubscribeResponse]
				if follow {
					var err error
					if stream, err = c.Messenger.Subscribe(ctx, &bv1.SubscribeRequest{}); err != nil {
						return x.apiErr(err)
					}
					defer stream.Close()
				}
				topics := func() ([][]byte, error) {
					r, err := c.Messenger.Conversations(ctx, &bv1.ConversationsRequest{})
					if err != nil {
						return nil, x.apiErr(err)
					}
					var ts [][]byte
					for _, cv := range r.Conversations {
						if only == nil || bytes.Equal(cv.Topic, only) {
							ts = append(ts, cv.Topic)
						}
					}
					return ts, nil
				}
				// history reads a conversation's latest n interactions,
				// oldest first.
				history := func(topic []byte, n int) ([]*bv1.Interaction, error) {
					h, err := c.Messenger.History(ctx, &bv1.HistoryRequest{Topic: topic, Limit: int32(n)})
					if err != nil {
						return nil, x.apiErr(err)
					}
					its := h.Interactions
					slices.Reverse(its)
					return its, nil
				}
				ts, err := topics()
				if err != nil {
					return err
				}
				// The latest --last of each conversation; when following,
				// the ones before are marked as printed, so that only new
				// messages (and changes) print.
				n := last
				if follow {
					n = lookback
				}
				for _, topic := range ts {
					if n == 0 {
						break
					}
					its, err := history(topic, n)
					if err != nil {
						return err
					}
					old := max(0, len(its)-last)
					t.mark(its[:old])
					t.print(its[old:])
				}
				if !follow {
					return nil
				}
				refresh := func(topic []byte) error {
					its, err := history(topic, tailWindow)
					if exitCode(err) == exitNotFound {
						return nil // a conversation left meanwhile
					}
					if err == nil {
						t.print(its)
					}
					return err
				}
				for stream.Receive() {
					ev := stream.Msg()
					var err error
					switch ev.Kind {
					case bv1.EventKind_EVENT_KIND_INTERACTION:
						if only == nil || bytes.Equal(ev.Topic, only) {
							err = refresh(ev.Topic)
						}
					case bv1.EventKind_EVENT_KIND_UNSPECIFIED:
						// More events than the stream holds: re-read all.
						var ts [][]byte
						if ts, err = topics(); err == nil {
							for _, topic := range ts {
								if err = refresh(topic); err != nil {
									break
								}
							}
						}
					}
					if ctx.Err() != nil {
						return nil
					}
					if err != nil {
						return err
					}
				}
				if ctx.Err() != nil {
					return nil
				}
				return x.apiErr(stream.Err())
			})
		},
	})
	c.Flags().IntVar(&last, "last", 10, "messages of history to print first (0 to 500)")
	c.Flags().BoolVar(&ids, "ids", false, "end each line with the message's ID, as edit, delete and react take it")
	c.Flags().BoolVar(&follow, "follow", true, "keep printing new messages; --follow=false exits after the history")
	return c
}
