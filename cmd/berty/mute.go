package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/internal/mini"
)

// muteCmd is `berty mute`: silence a conversation for a while, on every
// device of the account (docs/protocol.md §12.1 settings).
func muteCmd(x *cli, withData func(*cobra.Command) *cobra.Command) *cobra.Command {
	return withData(&cobra.Command{
		Use:   "mute CONV [FOR|forever|off]",
		Short: "Silence a conversation for a while (8h by default), on all your devices; off unmutes",
		Long: `mute silences a conversation on all the devices of your account: berty mini
does not ring for it, and ` + "`berty conversations`" + ` shows until when. FOR is a duration:
90m, 8h, 3d or 2w (8h if left out); forever mutes until you unmute; off unmutes.`,
		Example:           "  berty mute friends\n  berty mute friends 3d\n  berty mute friends off",
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: x.completeConv,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := "8h"
			if len(args) == 2 {
				spec = args[1]
			}
			until, err := mini.MuteUntil(spec, time.Now())
			if err != nil {
				return usagef("%v", err)
			}
			return x.withConv(cmd, args[0], func(c *client.Client, cv *bv1.Conversation) error {
				var ms int64
				if !until.IsZero() {
					ms = until.UnixMilli()
				}
				if _, err := c.Messenger.Mute(cmd.Context(), &bv1.MuteRequest{Topic: cv.Topic, UntilMs: ms}); err != nil {
					return x.apiErr(err)
				}
				row := map[string]any{"muted_until": ""}
				if ms > 0 {
					row["muted_until"] = until.UTC().Format(time.RFC3339)
				}
				return x.out(cmd, row, func(w io.Writer) {
					if until.IsZero() {
						fmt.Fprintln(w, "unmuted")
					} else {
						fmt.Fprintf(w, "muted until %s\n", until.Local().Format("Mon 2 Jan 2006 15:04"))
					}
				})
			})
		},
	})
}
