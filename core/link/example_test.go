package link_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
)

// A person shares their contact link; a friend pastes it, in any form, and
// gets the account key to send a contact request to.
func ExampleParseContact() {
	var accountSeed, rendezvousSeed [32]byte // from the account's storage
	account := keys.FromSeed(accountSeed)
	mine, err := link.NewContact(account, rendezvousSeed, "Alice")
	if err != nil {
		panic(err)
	}
	shared := mine.URL()
	fmt.Println(strings.HasPrefix(shared, "https://berty.tech/id#"))

	theirs, err := link.ParseContact("  " + strings.ToLower(shared) + "\n")
	if err != nil {
		panic(err)
	}
	fmt.Println(theirs.Name, theirs.Account == account.Public())

	// A link that was cut or mistyped is refused, with a reason to show.
	compact := mine.Compact()
	_, err = link.ParseContact(compact[:102])
	fmt.Println(errors.Is(err, link.ErrInvalid), err)
	_, err = link.ParseContact(compact[:50] + "B" + compact[51:]) // was "A"
	fmt.Println(err)
	// Output:
	// true
	// Alice true
	// true link is truncated: 60 bytes, a contact link has at least 131
	// the link's signature does not verify: it was altered or mistyped
}
