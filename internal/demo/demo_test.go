package demo

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs the README's main command on both networks and checks what a
// user reads: the conversations, carol's removal and her old link refused,
// the whole burst, and on libp2p the contact request, the linked phone and
// its revocation in both conversations.
func TestDemo(t *testing.T) {
	for _, net := range []string{"libp2p", "memnet"} {
		t.Run(net, func(t *testing.T) {
			var out bytes.Buffer
			if err := Run(Options{Net: net, Seed: 3, Dup: 0.3, Burst: 500, Out: &out, Dir: t.TempDir()}); err != nil {
				t.Fatalf("demo failed: %v\n%s", err, out.String())
			}
			for _, want := range []string{
				"hi bob! this is end-to-end encrypted",
				"carol  carol here, ready for saturday",
				"alice (admin)", // members are listed in join order, which concurrent joins make vary
				"carol (removed)",
				"could decrypt none: 0 new messages readable",
				"carol's new account reads 0 messages",
				"waiting for a member of the group to let this device in",
				"bob holds all 500 burst messages",
				"hi bob! this is end-to-end encrypted, and signed (edited)",
				"hi alice, loud and clear [👍 1]",
				"unread: bob 0, alice 1",
				"carol joins again as a new membership",
				"until she decides, carol's node says: waiting for a member",
				"alice  welcome back carol",
				"carol  glad to be back",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if net != "libp2p" {
				return
			}
			for _, want := range []string{
				"alice sees it as incoming",
				"both now accepted",
				"alice from her phone: I booked the gym",
				"could decrypt nothing new: 0 readable in the chat, 0 in #climbing",
				"the phone itself refuses to send",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
