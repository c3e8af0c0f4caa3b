package handshake_test

import (
	"crypto/rand"
	"fmt"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
)

// A whole contact request, both sides in one process. In the application
// each message travels on a stream opened at the responder's rendezvous
// point, and any error drops the stream.
func ExampleRequester() {
	check := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	alice, bob := keys.FromSeed([32]byte{1}), keys.FromSeed([32]byte{2})
	var point [32]byte // the rendezvous point of Bob's contact link

	// Alice scanned Bob's contact link: his account key and how to meet him.
	req, err := handshake.NewRequester(alice, "Alice", bob.Public(), point, rand.Reader)
	check(err)
	resp, err := handshake.NewResponder(bob, point, rand.Reader)
	check(err)

	msg1, err := req.Hello()
	check(err)
	msg2, err := resp.Reply(msg1)
	check(err)
	msg3, err := req.Answer(msg2) // fails unless the responder is Bob
	check(err)
	card, err := resp.Card(msg3) // fails unless the card's account made the handshake
	check(err)
	fmt.Println("Bob has a request from", card.Name, card.Account == alice.Public())

	msg4, err := resp.Status(handshake.StatusReceived)
	check(err)
	status, err := req.Done(msg4)
	check(err)
	fmt.Println("Alice's request was", status)
	// Output:
	// Bob has a request from Alice true
	// Alice's request was received
}
