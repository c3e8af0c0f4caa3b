package handshake

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Tests that need the package's internals: the card and grant decoders, a
// requester whose card lies about its account, and the size limit checked
// before any parsing.

// payload encodes a card or a grant by hand (they share one layout: version,
// 32 bytes, name), independently of encode.
func payload(version uint64, key []byte, name string) []byte {
	return wire.AppendString(append(wire.AppendUvarint(nil, version), key...), name)
}

// payloadCase is one input of both decoders; ok says whether they accept it.
type payloadCase struct {
	name string
	in   []byte
	ok   bool
}

func payloadCases() []payloadCase {
	key := kat.Seq(0x01, 32)
	valid := payload(1, key, "Alice")
	head := valid[:33] // version and key
	cases := []payloadCase{
		{"valid", valid, true},
		{"empty name", payload(1, key, ""), true},
		{"MaxName name", payload(1, key, strings.Repeat("n", MaxName)), true},
		{"UTF-8 name", payload(1, key, "Zoé 🐢"), true},
		{"empty", nil, false},
		{"trailing byte", append(bytes.Clone(valid), 0), false},
		{"version 0", payload(0, key, "Alice"), false},
		{"version 2", payload(2, key, "Alice"), false},
		{"version 1<<16", payload(1<<16, key, "Alice"), false},
		{"version above the varint limit", payload(1<<16+1, key, "Alice"), false},
		{"version as a padded varint", append([]byte{0x81, 0x00}, valid[1:]...), false},
		{"version varint cut", []byte{0x81}, false},
		{"name over MaxName", payload(1, key, strings.Repeat("n", MaxName+1)), false},
		{"name length above the input", append(bytes.Clone(head), 0x05, 'A'), false},
		{"name length as a padded varint", append(append(bytes.Clone(head), 0x85, 0x00), "Alice"...), false},
		{"name not UTF-8", payload(1, key, "Al\xffce"), false},
		{"name with a cut UTF-8 sequence", payload(1, key, "Zo\xc3"), false},
		{"name with a UTF-16 surrogate", payload(1, key, "\xed\xa0\x80"), false},
	}
	for n := 1; n < len(valid); n++ {
		cases = append(cases, payloadCase{fmt.Sprintf("%d-byte prefix", n), valid[:n], false})
	}
	return cases
}

func TestDecodeCard(t *testing.T) {
	for _, tc := range payloadCases() {
		c, err := decodeCard(tc.in)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.ok && !bytes.Equal(c.encode(), tc.in):
			t.Errorf("%s: decodes to %v %q, which encodes to %x", tc.name, c.Account, c.Name, c.encode())
		case !tc.ok && (!errors.Is(err, ErrHandshake) || c != nil):
			t.Errorf("%s: %v, %v; want only an error wrapping ErrHandshake", tc.name, c, err)
		}
	}
}

func TestDecodeGrant(t *testing.T) {
	for _, tc := range payloadCases() {
		g, err := decodeGrant(tc.in)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.ok && !bytes.Equal(g.encode(), tc.in):
			t.Errorf("%s: does not re-encode to its input", tc.name)
		case !tc.ok && (!errors.Is(err, ErrHandshake) || g != nil):
			t.Errorf("%s: %v; want only an error wrapping ErrHandshake", tc.name, err)
		}
	}
}

// checkPayload is the property both decoder fuzz targets check of a decoded
// payload: canonical (it re-encodes to its input), a name of at most MaxName
// bytes of UTF-8.
func checkPayload(t *testing.T, in, enc []byte, name string) {
	t.Helper()
	if !bytes.Equal(enc, in) {
		t.Fatalf("%x decodes, then encodes to %x", in, enc)
	}
	if len(name) > MaxName || !utf8.ValidString(name) {
		t.Fatalf("accepted the name %q", name)
	}
}

func addPayloadSeeds(f *testing.F) {
	for _, tc := range payloadCases() {
		f.Add(tc.in)
	}
}

// FuzzDecodeCard decodes arbitrary bytes as a card: no panic; an error wraps
// ErrHandshake; a card that decodes is canonical and its name valid.
func FuzzDecodeCard(f *testing.F) {
	addPayloadSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := decodeCard(in)
		if err != nil {
			if !errors.Is(err, ErrHandshake) || c != nil {
				t.Fatalf("%v, %v; want only an error wrapping ErrHandshake", c, err)
			}
			return
		}
		checkPayload(t, in, c.encode(), c.Name)
	})
}

// FuzzDecodeGrant is FuzzDecodeCard for grants.
func FuzzDecodeGrant(f *testing.F) {
	addPayloadSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := decodeGrant(in)
		if err != nil {
			if !errors.Is(err, ErrHandshake) || g != nil {
				t.Fatalf("%v; want only an error wrapping ErrHandshake", err)
			}
			return
		}
		checkPayload(t, in, g.encode(), g.Name)
	})
}

// Fixed inputs of the internal tests.
var (
	testRequester = keys.FromSeed([32]byte(kat.Seq(0x01, 32)))
	testResponder = keys.FromSeed([32]byte(kat.Seq(0x21, 32)))
	testPoint     = [32]byte(kat.Seq(0x61, 32))
	testSecret    = [32]byte(kat.Seq(0xa1, 32))
)

func newTestContact(t *testing.T) (*Requester, *Responder) {
	t.Helper()
	req, err := NewRequester(testRequester, "Alice", testResponder.Public(), testPoint, kat.NewRand([]byte("requester")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := NewResponder(testResponder, testPoint, kat.NewRand([]byte("responder")))
	if err != nil {
		t.Fatal(err)
	}
	return req, resp
}

func newTestLink(t *testing.T) (*Approver, *Joiner) {
	t.Helper()
	key, err := ecdh.X25519().NewPrivateKey(kat.Seq(0x81, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewApprover([32]byte(key.PublicKey().Bytes()), testSecret, kat.NewRand([]byte("approver")))
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoiner(key, testSecret, kat.NewRand([]byte("joiner")))
	if err != nil {
		t.Fatal(err)
	}
	return a, j
}

// TestCardAccountIsTheStatic makes a requester whose card names an account
// other than the key it makes the handshake with (the Noise static). The
// responder must refuse the card: otherwise anyone could send a request in
// someone else's name.
func TestCardAccountIsTheStatic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		account keys.Public
	}{
		{"another account", keys.FromSeed([32]byte(kat.Seq(0x41, 32))).Public()},
		{"the responder's account", testResponder.Public()},
		{"not a point", keys.Public{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := newTestContact(t)
			req.card.Account = tc.account
			msg1, err := req.Hello()
			if err != nil {
				t.Fatal(err)
			}
			msg2, err := resp.Reply(msg1)
			if err != nil {
				t.Fatal(err)
			}
			msg3, err := req.Answer(msg2)
			if err != nil {
				t.Fatal(err)
			}
			card, err := resp.Card(msg3)
			if !errors.Is(err, ErrHandshake) || card != nil {
				t.Errorf("Card naming %s: %v, %v; want only an error wrapping ErrHandshake", tc.name, card, err)
			}
		})
	}
}

// TestOversizedRefusedBeforeParsing gives every reading step a message of
// MaxMessage+1 bytes that is otherwise valid: made by the peer's own Noise
// state with a payload large enough. The step must fail without parsing it:
// the Noise handshake state has not moved on (MessageIndex), the transport
// cipher has not decrypted it (Nonce). Without the size check each of these
// messages would be read.
func TestOversizedRefusedBeforeParsing(t *testing.T) {
	const n = MaxMessage + 1
	// pad returns a payload that makes a message with overhead bytes of
	// keys and tags exactly n bytes long.
	pad := func(overhead int) []byte { return make([]byte, n-overhead) }
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	refused := func(t *testing.T, what string, msg []byte, err error, moved bool) {
		t.Helper()
		if len(msg) != n {
			t.Fatalf("%s: test message of %d bytes, want %d", what, len(msg), n)
		}
		if !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: %v, want an error wrapping ErrHandshake", what, err)
		}
		if moved {
			t.Errorf("%s: the oversized message was parsed", what)
		}
	}

	t.Run("contact", func(t *testing.T) {
		// msg1 = e || payload.
		req, resp := newTestContact(t)
		big, _, _, err := req.hs.WriteMessage(nil, pad(32))
		must(t, err)
		_, err = resp.Reply(big)
		refused(t, "Reply", big, err, resp.hs.MessageIndex() != 0)

		// msg2 = e || s+tag || payload+tag.
		req, resp = newTestContact(t)
		msg1, err := req.Hello()
		must(t, err)
		_, _, _, err = resp.hs.ReadMessage(nil, msg1)
		must(t, err)
		big, _, _, err = resp.hs.WriteMessage(nil, pad(32+48+16))
		must(t, err)
		_, err = req.Answer(big)
		refused(t, "Answer", big, err, req.hs.MessageIndex() != 1)

		// msg3 = s+tag || payload+tag.
		req, resp = newTestContact(t)
		msg1, err = req.Hello()
		must(t, err)
		msg2, err := resp.Reply(msg1)
		must(t, err)
		_, _, _, err = req.hs.ReadMessage(nil, msg2)
		must(t, err)
		big, _, _, err = req.hs.WriteMessage(nil, pad(48+16))
		must(t, err)
		_, err = resp.Card(big)
		refused(t, "Card", big, err, resp.hs.MessageIndex() != 2)

		// msg4 = status+tag.
		req, resp = newTestContact(t)
		msg1, err = req.Hello()
		must(t, err)
		msg2, err = resp.Reply(msg1)
		must(t, err)
		msg3, err := req.Answer(msg2)
		must(t, err)
		_, err = resp.Card(msg3)
		must(t, err)
		big, err = resp.send.Encrypt(nil, nil, pad(16))
		must(t, err)
		_, err = req.Done(big)
		refused(t, "Done", big, err, req.recv.Nonce() != 0)
	})

	t.Run("link", func(t *testing.T) {
		// msg1 = e || payload+tag (psk0: the payload is encrypted).
		a, j := newTestLink(t)
		big, _, _, err := a.hs.WriteMessage(nil, pad(32+16))
		must(t, err)
		_, err = j.Reply(big, joinerDevice)
		refused(t, "joiner Reply", big, err, j.hs.MessageIndex() != 0)

		// msg2 = e || payload+tag.
		a, j = newTestLink(t)
		msg1, err := a.Hello()
		must(t, err)
		_, _, _, err = j.hs.ReadMessage(nil, msg1)
		must(t, err)
		big, _, _, err = j.hs.WriteMessage(nil, pad(32+16))
		must(t, err)
		_, err = a.Grant(big, &Grant{})
		refused(t, "Grant", big, err, a.hs.MessageIndex() != 1)

		// msg3 = grant+tag.
		a, j = newTestLink(t)
		msg1, err = a.Hello()
		must(t, err)
		msg2, err := j.Reply(msg1, joinerDevice)
		must(t, err)
		_, send, _, err := a.hs.ReadMessage(nil, msg2)
		must(t, err)
		big, err = send.Encrypt(nil, nil, pad(16))
		must(t, err)
		_, err = j.Receive(big)
		refused(t, "Receive", big, err, j.recv.Nonce() != 0)

		// msg4 = ack+tag.
		a, j = newTestLink(t)
		msg1, err = a.Hello()
		must(t, err)
		msg2, err = j.Reply(msg1, joinerDevice)
		must(t, err)
		msg3, err := a.Grant(msg2, &Grant{Name: "Alice"})
		must(t, err)
		_, err = j.Receive(msg3)
		must(t, err)
		big, err = j.send.Encrypt(nil, nil, pad(16))
		must(t, err)
		err = a.Done(big)
		refused(t, "approver Done", big, err, a.recv.Nonce() != 0)
	})
}

// joinerDevice is the new device's own key in the device-link tests.
var joinerDevice = keys.Public{0x42, 0x43}
