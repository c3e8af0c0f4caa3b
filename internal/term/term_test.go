package term

import (
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello 👋 world", "hello 👋 world"},
		{"שלום עולם", "שלום עולם"}, // right-to-left text stays
		{"ctrl\x1b[31mred\x1b[0m\a", "ctrl[31mred[0m"},
		{"title\x1b]0;pwned\x07", "title]0;pwned"},
		{"clip\x1b]52;c;ZXZpbA==\x1b\\", "clip]52;c;ZXZpbA==\\"},
		{"over\rwrite", "overwrite"},
		{"back\bspace\x7f", "backspace"},
		{"c1\u009b31m", "c131m"},
		{"txt.\u202Eexe.pdf", "txt.exe.pdf"},
		{"iso\u2066late\u2069", "isolate"},
		{"tab\there", "tab here"},
		{"two\nlines", "two lines"},
		{"bad\xffbyte", "bad\uFFFDbyte"},
		{"real \uFFFD kept", "real \uFFFD kept"},
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLines(t *testing.T) {
	got := Lines("one\r\ntwo\n\x1b[2Kthree\u2028four")
	if want := []string{"one", "two", "[2Kthree", "four"}; !slices.Equal(got, want) {
		t.Errorf("Lines: %q, want %q", got, want)
	}
}

// FuzzClean: whatever a peer sends, what Clean returns is valid UTF-8 with
// no control character, no bidirectional control and no line break, and
// cleaning it again changes nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"hi", "\x1b[31m", "a\u202Eb", "\xff\xfe", "l1\nl2\r\n", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, c)
		}
		for _, r := range c {
			if unicode.IsControl(r) || drop(r) {
				t.Fatalf("Clean(%q) = %q: keeps %U", s, c, r)
			}
		}
		if Clean(c) != c {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
	})
}
