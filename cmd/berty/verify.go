package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/core/safety"
	"github.com/berty-go/berty/internal/qr"
)

// verifyCmd is `berty contact verify`: a contact's safety number
// (docs/protocol.md §11.8), and recording that it was compared.
func verifyCmd(x *cli) *cobra.Command {
	var showQR, confirm, clear bool
	var number string
	cmd := &cobra.Command{
		Use:   "verify ACCOUNT",
		Short: "Show a contact's safety number, and record that you compared it",
		Long: `Show the safety number of your account and a contact's: 60 digits that you and
the contact both see. Compare them in person or over a call (or scan the
contact's code with --qr on their side). Equal numbers mean each of you holds
the other's real key. The number changes when either account moves to a new key
(a device was revoked): the contact then shows as changed until you compare again.

  berty contact verify ACCOUNT                      show the number
  berty contact verify ACCOUNT --number "12345 …"   check the digits the contact reads you, and record it
  berty contact verify ACCOUNT --confirm            record that you compared by eye
  berty contact verify ACCOUNT --clear              forget it

ACCOUNT is hex, as ` + "`berty contact list`" + ` prints it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			acc, err := hexKey(args[0], "ACCOUNT", "berty contact list")
			if err != nil {
				return err
			}
			if number != "" {
				if _, err := safety.Parse(number); err != nil {
					return usagef("--number: %v", err)
				}
			}
			return x.withClient(func(c *client.Client) error {
				r, err := c.Node.ContactVerify(cmd.Context(), &bv1.ContactVerifyRequest{Account: acc, Number: number, Confirm: confirm, Clear: clear})
				if err != nil {
					return x.apiErr(err)
				}
				return x.out(cmd, map[string]any{"number": r.Number, "code": r.Code, "verified": r.Verified, "changed": r.Changed}, func(w io.Writer) {
					fmt.Fprintln(w, safety.Format(r.Number))
					switch {
					case r.Verified:
						fmt.Fprintln(w, "verified")
					case r.Changed:
						fmt.Fprintln(w, "CHANGED since you verified it: a key moved on (a device was revoked?); compare again")
					default:
						fmt.Fprintln(w, "not verified: compare it with the contact's, then run again with --number or --confirm")
					}
					if showQR {
						if code, err := qr.Terminal(r.Code); err == nil {
							fmt.Fprint(w, code)
						}
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&showQR, "qr", false, "draw the number as a QR code")
	cmd.Flags().StringVar(&number, "number", "", "the contact's number (digits, spaces allowed) or the text of their code: checked, then recorded")
	cmd.Flags().BoolVar(&confirm, "confirm", false, "record that you compared the number by eye")
	cmd.Flags().BoolVar(&clear, "clear", false, "forget that you verified this contact")
	cmd.MarkFlagsMutuallyExclusive("number", "confirm", "clear")
	return cmd
}
