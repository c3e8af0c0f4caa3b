package link_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/link"
)

// The fuzz targets parse arbitrary text as a link. Nothing may panic; every
// error must wrap ErrInvalid; a link that is accepted must be canonical: its
// compact form is exactly the input's base32 (up to case) behind "BERTY:",
// and every form of it parses back to the same link. Run them with
//
//	go test ./core/link -run XXX -fuzz FuzzParseContact -fuzztime 1m

// fuzzSeeds returns the texts every fuzz target starts from: the forms of
// valid links of both kinds, cut and garbled, and some garbage.
func fuzzSeeds(f *testing.F) []string {
	seeds := []string{
		"", " ", "#", "BERTY:", "berty:", "https://berty.tech/id", "https://berty.tech/id#",
		"BERTY:AAAA", "BERTY:A", "BERTY:\nAA", "https://berty.tech/id#BERTY:AE", "BERTY:" + strings.Repeat("7", 300),
		"BERTY:AEAQ", "BERTY:AIAQ", "\xff\xfe", "BERTY:ıı",
	}
	for _, name := range names {
		c, err := link.NewContact(alice, aliceSeed, name)
		if err != nil {
			f.Fatal(err)
		}
		d, err := link.NewDevice(secret, oneTimeKey, expires, name)
		if err != nil {
			f.Fatal(err)
		}
		for _, compact := range []string{c.Compact(), d.Compact()} {
			seeds = append(seeds, forms(compact)...)
			seeds = append(seeds, compact[:len(compact)/2], compact[:len(compact)-1], compact+"A", compact+"AA", compact+"=")
		}
	}
	return seeds
}

// canonical returns the compact form that an accepted text s must have:
// written out here from §11.3 rather than taken from the package.
func canonical(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) >= 6 && strings.EqualFold(s[:6], "BERTY:") {
		s = s[6:]
	}
	s = strings.NewReplacer(" ", "", "\t", "", "\r", "", "\n", "").Replace(s) // wrapped over lines
	return "BERTY:" + strings.ToUpper(s)
}

func FuzzParseContact(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := link.ParseContact(s)
		if err != nil {
			if !errors.Is(err, link.ErrInvalid) || err.Error() == "" {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		if got, want := c.Compact(), canonical(s); got != want {
			t.Fatalf("ParseContact(%q) accepted a link whose compact form is %q, want %q", s, got, want)
		}
		for _, form := range []string{c.Compact(), c.URL()} {
			if again, err := link.ParseContact(form); err != nil || *again != *c {
				t.Fatalf("%q parses to %+v, but %q to %+v, %v", s, c, form, again, err)
			}
		}
		if again, err := link.DecodeContact(c.Payload()); err != nil || *again != *c {
			t.Fatalf("DecodeContact(Payload) = %+v, %v; want %+v", again, err, c)
		}
		if _, err := link.NewContact(alice, c.Seed, c.Name); err != nil {
			t.Fatalf("accepted a name that NewContact refuses: %v", err)
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := link.ParseDevice(s)
		if err != nil {
			if !errors.Is(err, link.ErrInvalid) || err.Error() == "" {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		if got, want := d.Compact(), canonical(s); got != want {
			t.Fatalf("ParseDevice(%q) accepted a link whose compact form is %q, want %q", s, got, want)
		}
		for _, form := range []string{d.Compact(), d.URL()} {
			if again, err := link.ParseDevice(form); err != nil || *again != *d {
				t.Fatalf("%q parses to %+v, but %q to %+v, %v", s, d, form, again, err)
			}
		}
		if again, err := link.NewDevice(d.Secret, d.Key, d.Expires, d.Name); err != nil || *again != *d {
			t.Fatalf("NewDevice of the fields = %+v, %v; want %+v", again, err, d)
		}
	})
}
