package link_test

import (
	"testing"

	"github.com/berty-go/berty/core/link"
)

// BenchmarkParseContact parses a contact link's URL form, signature check
// included.
func BenchmarkParseContact(b *testing.B) {
	c, err := link.NewContact(alice, aliceSeed, "Alice")
	if err != nil {
		b.Fatal(err)
	}
	s := c.URL()
	for b.Loop() {
		if _, err := link.ParseContact(s); err != nil {
			b.Fatal(err)
		}
	}
}
