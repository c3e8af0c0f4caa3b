package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/term"
)

// approveCmd is `berty device approve`. The call can take until the link
// expires (up to 10 minutes): it says on stderr what it is doing and
// until when, and Ctrl-C gives up.
func approveCmd(x *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "approve [LINK|-]",
		Short: "Hand this account to the new device that shows LINK (it gets the account's secrets)",
		Long: `approve looks for the new device that shows LINK ("berty device link" there) at
the link's rendezvous point, and hands it this account over an encrypted
handshake: it gets the account's secrets. It waits until the new device answers
or the link expires, saying so on stderr; Ctrl-C gives up.

The link holds a one-time secret: whoever has it before you use it can reach the
new device first. A command line is visible to the other users of this machine
(ps), so without LINK, or with -, the link is read from stdin instead.`,
		Example: "  berty device approve            # then paste the link and press enter\n  berty device approve https://berty.tech/id#…",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := ""
			if len(args) == 1 {
				text = args[0]
			}
			if text == "" || text == "-" {
				fmt.Fprintln(cmd.ErrOrStderr(), "paste the new device's link, then press enter (twice if it does not go on):")
				// A link copied from a terminal may come over several
				// lines: read until it parses, a blank line or the end.
				in := bufio.NewReader(cmd.InOrStdin())
				text = ""
				for {
					line, err := in.ReadString('\n')
					text += line
					if _, perr := link.ParseDevice(text); perr == nil || strings.TrimSpace(line) == "" || err != nil {
						break
					}
				}
				if strings.TrimSpace(text) == "" {
					return usagef("no link on stdin: paste the link that `berty device link` shows on the new device")
				}
			}
			args = []string{strings.TrimSpace(text)}
			l, err := link.ParseDevice(args[0])
			if err != nil {
				return exitError{code: exitUsage, err: err}
			}
			expires := time.Unix(int64(l.Expires), 0)
			if l.Expired(uint64(time.Now().Unix())) {
				return usagef("this device link expired at %s: run `berty device link` on the new device again for a new one", expires.Format("15:04:05"))
			}
			name := "the new device"
			if l.Name != "" {
				name = fmt.Sprintf("the new device %q", term.Clean(l.Name))
			}
			ctx, stop := run(cmd)
			defer stop()
			return x.withClient(func(c *client.Client) error {
				fmt.Fprintf(cmd.ErrOrStderr(), "looking for %s at its rendezvous point; the link expires at %s (Ctrl-C gives up)…\n", name, expires.Format("15:04:05"))
				r, err := c.Node.DeviceApprove(ctx, &bv1.DeviceApproveRequest{Link: args[0]})
				switch {
				case err != nil && ctx.Err() != nil:
					return exitError{code: exitFailed, err: errors.New("cancelled: the new device was not approved")}
				case err != nil:
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"approved": true, "name": l.Name, "device": hex.EncodeToString(r.Device)}, func(w io.Writer) {
					fmt.Fprintf(w, "approved %s, device %x: it syncs the account now, and `berty device list` shows it once it has\n", name, r.Device)
				})
			})
		},
	}
}
