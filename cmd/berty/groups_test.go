package main

import (
	"bytes"
	"testing"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// TestMember: `berty group remove` finds a member by name (any case) or by
// 4 or more hex digits of its key, as `berty group members` prints them;
// it never picks one of several, nor a member already removed, nor a join
// that waits for an admin; `berty group admit` picks only those.
func TestMember(t *testing.T) {
	ms := []*bv1.Member{
		{Key: append([]byte{0xab, 0xcd, 0x01}, make([]byte, 29)...), Name: "carol"},
		{Key: append([]byte{0xab, 0xcd, 0x02}, make([]byte, 29)...), Name: "dave"},
		{Key: append([]byte{0x12, 0x34}, make([]byte, 30)...), Name: "erin", Removed: true},
		{Key: append([]byte{0xab, 0xcd, 0x03}, make([]byte, 29)...), Awaiting: true},
	}
	for _, tc := range []struct {
		q    string
		want int // index in ms, or -1
		code int
	}{
		{"Carol", 0, 0},
		{"abcd02", 1, 0},
		{"ABCD01", 0, 0},
		{"abcd", -1, exitUsage},    // both
		{"abc", -1, exitNotFound},  // too short to be a key
		{"erin", -1, exitNotFound}, // removed already
		{"1234", -1, exitNotFound}, // removed already
		{"zoe", -1, exitNotFound},
		{"abcd03", -1, exitNotFound}, // waits for an admin
	} {
		m, err := member(ms, tc.q, "friends", false)
		if tc.want >= 0 {
			if err != nil || !bytes.Equal(m.Key, ms[tc.want].Key) {
				t.Errorf("member %q: %v, %v, want %s", tc.q, m, err, ms[tc.want].Name)
			}
			continue
		}
		if exitCode(err) != tc.code {
			t.Errorf("member %q: %v (exit %d), want exit %d", tc.q, err, exitCode(err), tc.code)
		}
	}
	if m, err := member(ms, "abcd", "friends", true); err != nil || !bytes.Equal(m.Key, ms[3].Key) {
		t.Errorf("waiting join abcd: %v, %v; want the one that waits", m, err)
	}
	if _, err := member(ms, "abcd01", "friends", true); exitCode(err) != exitNotFound {
		t.Errorf("waiting join abcd01 (a member): %v, want not found", err)
	}
}
