package link

import (
	"bytes"

	"github.com/berty-go/berty/core/wire"
)

// MaxInvitation bounds the invitation a group link carries, in bytes.
const MaxInvitation = 1024

// Group is a group link: an invitation to a multi-member group (docs/
// protocol.md §5.5, §11.2) as text or a QR code. The invitation carries the
// group's secret — share a group link like a password — and the inviter's
// signature, which the caller checks when it decodes it
// (replica.DecodeInvitation); the link adds a checksum against typos.
type Group struct {
	Invitation []byte
}

// NewGroup returns the link of an encoded invitation.
func NewGroup(invitation []byte) (*Group, error) {
	if len(invitation) == 0 || len(invitation) > MaxInvitation {
		return nil, invalid("an invitation of %s does not fit a group link (1 to %d)", count(len(invitation), "byte"), MaxInvitation)
	}
	return &Group{Invitation: bytes.Clone(invitation)}, nil
}

// Payload returns the binary form of the link, in a new slice:
// u8 kind = 3 || u8 version = 1 || bytes(1024) invitation || checksum[4].
func (g *Group) Payload() []byte {
	b := append([]byte{byte(kindGroup), version}, wire.AppendBytes(nil, g.Invitation)...)
	return append(b, checksum(b)...)
}

// Compact returns the link as "BERTY:" + base32.
func (g *Group) Compact() string { return compact(g.Payload()) }

// URL returns the link as "https://berty.tech/id#" + base32.
func (g *Group) URL() string { return url(g.Payload()) }

// ParseGroup parses a group link in either text form and verifies its
// checksum. Errors wrap ErrInvalid.
func ParseGroup(s string) (*Group, error) {
	p, err := decodeText(s)
	if err != nil {
		return nil, err
	}
	return DecodeGroup(p)
}

// DecodeGroup decodes the binary form of a group link. The Group does not
// alias p.
func DecodeGroup(p []byte) (*Group, error) {
	if err := checkHeader(p, kindGroup); err != nil {
		return nil, err
	}
	last := len(p) - deviceSumSize
	if !bytes.Equal(checksum(p[:last]), p[last:]) {
		return nil, kindGroup.damaged()
	}
	r := wire.NewReader(p[2:last])
	inv := r.Bytes(MaxInvitation)
	if err := r.Done(); err != nil {
		return nil, malformed(err)
	}
	if len(inv) == 0 {
		return nil, invalid("the group link carries no invitation")
	}
	return &Group{Invitation: bytes.Clone(inv)}, nil
}
