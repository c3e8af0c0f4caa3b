package handshake_test

import (
	"strings"
	"testing"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors of both handshakes: every message of a whole run, with
// each side's randomness a distinct katRand stream, so that another
// implementation of the protocol (or a new version of the Noise library) can
// be checked message by message. The vector file is checked by every plain
// `go test`; `go test ./core/handshake -run TestKAT -update` rewrites it.

// contactVector returns the vector of newContact's request answered with s.
func contactVector(name string, s handshake.Status) kat.Vector {
	c := newContact()
	req, resp := c.requester.Seed(), c.responder.Seed()
	return kat.Vector{Name: name, In: map[string]string{
		"requester_seed":      kat.H(req[:]),
		"responder_seed":      kat.H(resp[:]),
		"name":                kat.H([]byte(c.name)),
		"point":               kat.H(c.requesterPoint[:]),
		"requester_rand_seed": kat.H(c.requesterRand),
		"responder_rand_seed": kat.H(c.responderRand),
		"status":              kat.Dec(uint64(s)),
	}}
}

// linkVector returns the vector of newLink's device link.
func linkVector(t testing.TB, name string) kat.Vector {
	l := newLink(t)
	return kat.Vector{Name: name, In: map[string]string{
		"one_time_private":   kat.H(l.joinerKey.Bytes()),
		"secret":             kat.H(l.approverSecret[:]),
		"account_seed":       kat.H(l.grant.AccountSeed[:]),
		"account_name":       kat.H([]byte(l.grant.Name)),
		"approver_rand_seed": kat.H(l.approverRand),
		"joiner_rand_seed":   kat.H(l.joinerRand),
	}}
}

func computeContact(t *testing.T, v kat.Vector) map[string]string {
	point := kat.Hex32(t, v.In, "point")
	responder := keys.FromSeed(kat.Hex32(t, v.In, "responder_seed"))
	c := contact{
		requester:      keys.FromSeed(kat.Hex32(t, v.In, "requester_seed")),
		responder:      responder,
		name:           string(kat.Hex(t, v.In, "name")),
		link:           responder.Public(),
		requesterPoint: point,
		responderPoint: point,
		requesterRand:  kat.Hex(t, v.In, "requester_rand_seed"),
		responderRand:  kat.Hex(t, v.In, "responder_rand_seed"),
	}
	s := handshake.Status(kat.Uint(t, v.In, "status"))
	r := c.run(t, s)
	if r.card.Account != c.requester.Public() || r.card.Name != c.name || r.status != s {
		t.Errorf("run gave card %v %q and status %v, want %v %q and %v", r.card.Account, r.card.Name, r.status, c.requester.Public(), c.name, s)
	}
	return map[string]string{
		"msg1": kat.H(r.msg1),
		"msg2": kat.H(r.msg2),
		"msg3": kat.H(r.msg3),
		"msg4": kat.H(r.msg4),
	}
}

func computeLink(t *testing.T, v kat.Vector) map[string]string {
	key := oneTimeKey(t, kat.Hex(t, v.In, "one_time_private"))
	secret := kat.Hex32(t, v.In, "secret")
	l := link{
		joinerKey:      key,
		approverKey:    [32]byte(key.PublicKey().Bytes()),
		joinerSecret:   secret,
		approverSecret: secret,
		grant: handshake.Grant{
			AccountSeed: kat.Hex32(t, v.In, "account_seed"),
			Name:        string(kat.Hex(t, v.In, "account_name")),
		},
		approverRand: kat.Hex(t, v.In, "approver_rand_seed"),
		joinerRand:   kat.Hex(t, v.In, "joiner_rand_seed"),
	}
	r := l.run(t)
	if *r.grant != l.grant {
		t.Errorf("joiner received a grant named %q, approver sent one named %q (or the seeds differ)", r.grant.Name, l.grant.Name)
	}
	return map[string]string{
		"one_time_public": kat.H(l.approverKey[:]),
		"msg1":            kat.H(r.msg1),
		"msg2":            kat.H(r.msg2),
		"msg3":            kat.H(r.msg3),
		"msg4":            kat.H(r.msg4),
	}
}

func TestKAT(t *testing.T) {
	vectors := []kat.Vector{
		contactVector("contact-received", handshake.StatusReceived),
		contactVector("contact-busy", handshake.StatusBusy),
		linkVector(t, "device-link"),
	}
	kat.Check(t, "handshakes.json",
		"contact-* vectors: a whole contact request (Noise_XX_25519_ChaChaPoly_SHA256, prologue \"berty/v1/contact-request\" || 0x00 || point) "+
			"from keys.FromSeed(requester_seed), named name, to keys.FromSeed(responder_seed), answered with status; "+
			"the requester reads its ephemeral key from katRand(requester_rand_seed), the responder from katRand(responder_rand_seed). "+
			"device-link vector: a whole device link (Noise_NKpsk0_25519_ChaChaPoly_SHA256, prologue \"berty/v2/device-link\" || 0x00, psk = secret) "+
			"to the new device's one-time X25519 key one_time_private, granting account_seed and account_name, acknowledged; "+
			"the reply carries the device key and a one-time ML-KEM-768 key, the grant is ML-KEM ciphertext || Seal(HKDF(ML-KEM secret, handshake hash, \"berty/v2/device-link/grant\"), grant); "+
			"the approver reads its ephemeral key, then its ML-KEM randomness and the grant's nonce, from katRand(approver_rand_seed); the new device its ephemeral key, then its ML-KEM seed, from katRand(joiner_rand_seed). "+
			"msg1..msg4 are the four messages in the order they are sent.",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			if strings.HasPrefix(v.Name, "contact-") {
				return computeContact(t, v)
			}
			return computeLink(t, v)
		})
}
