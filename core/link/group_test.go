package link_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/link"
)

// TestGroupLink: a group link round-trips in both text forms, and a cut,
// altered or mistaken link is refused with a message for a person.
func TestGroupLink(t *testing.T) {
	inv := bytes.Repeat([]byte{0xab, 0x01}, 150)
	g, err := link.NewGroup(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{g.Compact(), g.URL(), strings.ToLower(g.Compact()), "  " + g.URL() + "\n"} {
		back, err := link.ParseGroup(s)
		if err != nil || !bytes.Equal(back.Invitation, inv) {
			t.Fatalf("ParseGroup(%.30q…) = %v, %v", s, back, err)
		}
	}
	p := g.Payload()
	for i := 2; i < len(p); i++ {
		bad := bytes.Clone(p)
		bad[i] ^= 0x10
		if _, err := link.DecodeGroup(bad); !errors.Is(err, link.ErrInvalid) {
			t.Fatalf("byte %d altered: %v", i, err)
		}
	}
	for n := range len(p) {
		if _, err := link.DecodeGroup(p[:n]); !errors.Is(err, link.ErrInvalid) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	c, _ := link.NewContact(alice, aliceSeed, "Alice")
	if _, err := link.ParseGroup(c.Compact()); err == nil || !strings.Contains(err.Error(), "this is a contact link, not a group link") {
		t.Errorf("a contact link as a group link: %v", err)
	}
	if _, err := link.ParseContact(g.Compact()); err == nil || !strings.Contains(err.Error(), "this is a group link, not a contact link") {
		t.Errorf("a group link as a contact link: %v", err)
	}
	if _, err := link.NewGroup(make([]byte, link.MaxInvitation+1)); err == nil {
		t.Error("an oversized invitation made a link")
	}
}

func FuzzParseGroup(f *testing.F) {
	g, _ := link.NewGroup([]byte("an invitation"))
	f.Add(g.Compact())
	f.Add(g.URL())
	f.Add("BERTY:AM")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := link.ParseGroup(s)
		if err != nil {
			if !errors.Is(err, link.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := link.ParseGroup(g.Compact())
		if err != nil || !bytes.Equal(again.Invitation, g.Invitation) {
			t.Fatalf("re-encoding %q does not parse back: %v", g.Compact(), err)
		}
	})
}
