package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/internal/term"
)

// lookback is how many of a conversation's latest interactions a verb
// searches for its target message (the daemon serves at most 500 a call).
const lookback = 500

// target finds the message a verb acts on in cv: the one whose ID starts
// with the hex prefix id (at least 4 digits, among the latest lookback),
// or, without an id, the latest message that pick accepts.
func (x *cli) target(ctx context.Context, c *client.Client, cv *bv1.Conversation, id string, pick func(*bv1.Interaction) bool, none string) (*bv1.Interaction, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if id != "" {
		if strings.Trim(id, "0123456789abcdef") != "" || len(id) < 4 || len(id) > 64 {
			return nil, exitError{code: exitUsage, err: fmt.Errorf("--id takes 4 to 64 hex digits of a message ID (as `berty search` or `berty tail --ids` print them), got %q", id)}
		}
	}
	h, err := c.Messenger.History(ctx, &bv1.HistoryRequest{Topic: cv.Topic, Limit: lookback})
	if err != nil {
		return nil, x.apiErr(err)
	}
	var found []*bv1.Interaction
	for _, it := range h.Interactions { // newest first
		if id == "" && pick(it) {
			return it, nil
		}
		if id != "" && strings.HasPrefix(hex.EncodeToString(it.Id), id) {
			found = append(found, it)
		}
	}
	switch {
	case id == "":
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("%s in the latest %d of %s", none, lookback, term.Clean(cv.Name))}
	case len(found) == 0:
		return nil, exitError{code: exitNotFound, err: fmt.Errorf("no message with an ID starting with %s in the latest %d of %s", id, lookback, term.Clean(cv.Name))}
	case len(found) > 1:
		return nil, exitError{code: exitUsage, err: fmt.Errorf("%d messages have an ID starting with %s: give more digits", len(found), id)}
	}
	return found[0], nil
}

// ownText picks the person's own messages that still have their text.
func ownText(it *bv1.Interaction) bool {
	return it.Own && !it.Deleted && it.Kind == bv1.InteractionKind_INTERACTION_KIND_TEXT
}

// messageCmds are the verbs that change or find messages, and the profile.
func messageCmds(x *cli, withData func(*cobra.Command) *cobra.Command) []*cobra.Command {
	var editID, deleteID, reactID string
	var remove bool
	var limit int

	name := withData(&cobra.Command{
		Use:     "name NAME",
		Short:   "Set your display name: contacts and the members of your groups see it",
		Example: "  berty name \"Alice Liddell\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := strings.TrimSpace(args[0])
			if n == "" {
				return exitError{code: exitUsage, err: fmt.Errorf("the name is empty")}
			}
			return x.withClient(func(c *client.Client) error {
				if _, err := c.Messenger.SetProfile(cmd.Context(), &bv1.SetProfileRequest{Name: n}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"name": n}, func(w io.Writer) {})
			})
		},
	})

	edit := withData(&cobra.Command{
		Use:   "edit CONV TEXT",
		Short: "Replace the text of your latest message in CONV (or of the one --id names)",
		Long: `edit replaces the text of one of your messages, on every device of every member.
Without --id it is your latest message in CONV that still has its text. Only the
author's devices can edit a message: the others refuse an edit of someone else's.`,
		Example:           "  berty edit alice \"see you at 6, not 5\"\n  berty edit friends --id 3fa2c1 \"fixed\"",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				it, err := x.target(cmd.Context(), c, cv, editID, ownText, "you have no message to edit")
				if err != nil {
					return err
				}
				if _, err := c.Messenger.Edit(cmd.Context(), &bv1.EditRequest{Topic: cv.Topic, Target: it.Id, Body: args[1]}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"id": hex.EncodeToString(it.Id)}, func(w io.Writer) {})
			})
		},
	})
	edit.Flags().StringVar(&editID, "id", "", "the message's ID or a prefix of it (4+ hex digits)")

	del := withData(&cobra.Command{
		Use:   "delete CONV",
		Short: "Delete your latest message in CONV (or the one --id names), leaving a tombstone",
		Long: `delete removes the text of one of your messages on every device of every member;
the conversation shows that a message was deleted. Without --id it is your latest
message in CONV that still has its text. Only the author's devices can delete it.`,
		Example:           "  berty delete alice\n  berty delete friends --id 3fa2c1",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				it, err := x.target(cmd.Context(), c, cv, deleteID, ownText, "you have no message to delete")
				if err != nil {
					return err
				}
				if _, err := c.Messenger.Delete(cmd.Context(), &bv1.DeleteRequest{Topic: cv.Topic, Target: it.Id}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"id": hex.EncodeToString(it.Id)}, func(w io.Writer) {})
			})
		},
	})
	del.Flags().StringVar(&deleteID, "id", "", "the message's ID or a prefix of it (4+ hex digits)")

	react := withData(&cobra.Command{
		Use:               "react CONV EMOJI",
		Short:             "React to the latest message in CONV (or the one --id names); --remove takes it back",
		Example:           "  berty react alice 👍\n  berty react friends --id 3fa2c1 🎉\n  berty react alice 👍 --remove",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				it, err := x.target(cmd.Context(), c, cv, reactID, func(it *bv1.Interaction) bool {
					return !it.Deleted && it.Kind == bv1.InteractionKind_INTERACTION_KIND_TEXT
				}, "there is no message to react to")
				if err != nil {
					return err
				}
				if _, err := c.Messenger.React(cmd.Context(), &bv1.ReactRequest{Topic: cv.Topic, Target: it.Id, Emoji: args[1], Remove: remove}); err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"id": hex.EncodeToString(it.Id)}, func(w io.Writer) {})
			})
		},
	})
	react.Flags().StringVar(&reactID, "id", "", "the message's ID or a prefix of it (4+ hex digits)")
	react.Flags().BoolVar(&remove, "remove", false, "take the reaction back")

	search := withData(&cobra.Command{
		Use:   "search WORDS",
		Short: "Find messages in every conversation, best matches first",
		Long: `search finds messages in which every word starts a word of the text ("meet"
finds "meeting"; case does not matter), in every conversation of this device, best
matches first. An edited message is found by its current text. Each line gives the
time, the conversation, the author, the text and the message ID that edit, delete
and react take with --id.`,
		Example: "  berty search dinner\n  berty search \"train ticket\" --limit 50 --json",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 200 {
				return exitError{code: exitUsage, err: fmt.Errorf("--limit takes 1 to 200, got %d", limit)}
			}
			return x.withClient(func(c *client.Client) error {
				r, err := c.Messenger.Search(cmd.Context(), &bv1.SearchRequest{Query: strings.Join(args, " "), Limit: int32(limit)})
				if err != nil {
					return x.apiErr(err)
				}
				convs, err := c.Messenger.Conversations(cmd.Context(), &bv1.ConversationsRequest{})
				if err != nil {
					return x.apiErr(err)
				}
				names := map[string]string{}
				for _, cv := range convs.Conversations {
					names[string(cv.Topic)] = cv.Name
				}
				rows := []map[string]any{}
				for _, it := range r.Interactions {
					row := interactionJSON(it)
					row["conversation"] = names[string(it.Topic)]
					rows = append(rows, row)
				}
				return x.out(cmd, rows, func(w io.Writer) {
					if len(r.Interactions) == 0 {
						fmt.Fprintln(cmd.ErrOrStderr(), "no message matches")
					}
					for _, it := range r.Interactions {
						conv := names[string(it.Topic)]
						if conv == "" {
							conv = short(it.Topic)
						}
						prefix := fmt.Sprintf("%s  %s %s ", time.UnixMilli(it.SentAtMs).Format("2006-01-02 15:04"), pad(conv, 12), pad(it.Name, 10))
						writeText(w, prefix, body(it), annotations(it, true, true))
					}
					if len(r.Interactions) == limit {
						fmt.Fprintf(cmd.ErrOrStderr(), "the best %s; --limit shows more\n", plural(limit, "match", "matches"))
					}
				})
			})
		},
	})
	search.Flags().IntVar(&limit, "limit", 20, "how many matches to print (1 to 200)")

	return []*cobra.Command{name, edit, del, react, search, muteCmd(x, withData)}
}
