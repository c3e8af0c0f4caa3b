package device_test

import (
	"testing"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/node"
)

// BenchmarkContactRequestLoopback: one contact request from a new account
// to alice over loopback TCP — stream at her rendezvous point, Noise XX,
// the request recorded durably on her account group — as the requester
// sees it, answer included. Alice discards the waiting requests (untimed)
// before they reach the cap.
func BenchmarkContactRequestLoopback(b *testing.B) {
	alice := newDev(b, "alice")
	l := alice.link()
	m := newAttacker(b, alice)
	n := 0
	for b.Loop() {
		if n++; n%(node.MaxIncoming-1) == 0 {
			b.StopTimer()
			for _, c := range alice.d.Node.Contacts() {
				if c.State == state.ContactIncoming {
					if err := alice.d.Node.DiscardContact(c.Account); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StartTimer()
		}
		_, st, err := m.request(newKey(b), "bench", l)
		if err != nil || st != handshake.StatusReceived {
			b.Fatalf("request: %v, %v", st, err)
		}
	}
}
