package link

import (
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
)

// ctxContactLink is the signature context of contact links (§3.6, §11).
const ctxContactLink = "berty/v1/contact-link"

const contactSigSize = 64

// Contact is a contact link: what a person publishes so that others can send
// them a contact request. It is not secret — anyone who has it can ask to
// become a contact — but only the account's key can make one.
//
// A Contact from NewContact, ParseContact or DecodeContact is valid: Sig is
// the account's signature over the other fields. One assembled by hand is
// whatever its fields say; its Payload is refused by DecodeContact unless it
// is valid.
type Contact struct {
	// Account is the person's account public key.
	Account keys.Public
	// Seed is the rendezvous seed from which the account's devices derive
	// where to wait for contact requests.
	Seed [32]byte
	// Name is the display name the person chose to share: valid UTF-8 of at
	// most MaxName bytes. It is a claim, not a verified identity.
	Name string
	// Sig is the account key's signature (see the package comment).
	Sig [64]byte
}

// NewContact returns the contact link of the account key pair, signed by it.
// It fails only if name is longer than MaxName bytes or not valid UTF-8.
func NewContact(account *keys.Pair, seed [32]byte, name string) (*Contact, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c := &Contact{Account: account.Public(), Seed: seed, Name: name}
	copy(c.Sig[:], account.Sign(keys.SignContext(ctxContactLink, c.body())))
	return c, nil
}

// body returns the signed part of the payload: everything but the signature.
func (c *Contact) body() []byte {
	b := make([]byte, 0, kindContact.minSize()+len(c.Name))
	b = append(b, byte(kindContact), version)
	b = append(b, c.Account[:]...)
	b = append(b, c.Seed[:]...)
	return wire.AppendString(b, c.Name)
}

// Payload returns the binary form of the link (§11.1), in a new slice.
func (c *Contact) Payload() []byte { return append(c.body(), c.Sig[:]...) }

// Compact returns the link as "BERTY:" + base32, the form for QR codes.
func (c *Contact) Compact() string { return compact(c.Payload()) }

// URL returns the link as "https://berty.tech/id#" + base32, the form for
// sharing as text.
func (c *Contact) URL() string { return url(c.Payload()) }

// ParseContact parses a contact link in either text form (see the package
// comment) and verifies its signature. Errors wrap ErrInvalid.
func ParseContact(s string) (*Contact, error) {
	p, err := decodeText(s)
	if err != nil {
		return nil, err
	}
	return DecodeContact(p)
}

// DecodeContact decodes the binary form of a contact link and verifies its
// signature. Errors wrap ErrInvalid. The Contact does not alias p.
func DecodeContact(p []byte) (*Contact, error) {
	if err := checkHeader(p, kindContact); err != nil {
		return nil, err
	}
	r := wire.NewReader(p)
	r.Fixed(2)
	c := &Contact{Account: keys.Public(r.Fixed32()), Seed: r.Fixed32()}
	name, end, ferr := readName(r, contactSigSize)
	signed := func(body, sig []byte) bool {
		return c.Account.Verify(keys.SignContext(ctxContactLink, body), sig)
	}
	if err := finish(p, kindContact, end, ferr, contactSigSize, signed); err != nil {
		return nil, err
	}
	c.Name = name
	copy(c.Sig[:], p[end:])
	return c, nil
}
