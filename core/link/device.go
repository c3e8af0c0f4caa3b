package link

import (
	"bytes"
	"crypto/sha256"

	"github.com/berty-go/berty/core/wire"
)

const deviceSumSize = 4

// Device is a device link: what a new device shows so that an existing
// device of the account can hand it the account (§11.7). It is shown to the
// person only, for a short time, and never logged.
//
// Unlike a contact link it is not signed — there is no account key yet — so
// it carries a checksum, which catches typos and cut links but not
// deliberate changes: what protects the linking is the handshake, in which
// the approving device proves it knows Secret and encrypts to Key, whose
// private half never leaves the new device.
type Device struct {
	// Secret is the one-time secret the approving device proves it knows.
	Secret [32]byte
	// Key is the new device's one-time X25519 public key.
	Key [32]byte
	// Expires is the time, in Unix seconds, from which the link is no longer
	// accepted (see Expired).
	Expires uint64
	// Name is the name of the device that made the link: valid UTF-8 of at
	// most MaxName bytes.
	Name string
}

// NewDevice returns a device link. It fails only if name is longer than
// MaxName bytes or not valid UTF-8.
func NewDevice(secret, key [32]byte, expires uint64, name string) (*Device, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return &Device{Secret: secret, Key: key, Expires: expires, Name: name}, nil
}

// Expired reports whether the link has expired at nowUnix, in Unix seconds.
// Parsing does not check the expiry: this package reads no clock, so the
// caller asks with its own.
func (d *Device) Expired(nowUnix uint64) bool { return nowUnix >= d.Expires }

// Payload returns the binary form of the link (§11.2), in a new slice.
func (d *Device) Payload() []byte {
	b := make([]byte, 0, kindDevice.minSize()+9+len(d.Name)) // 9: the longest expiry's extra bytes
	b = append(b, byte(kindDevice), version)
	b = append(b, d.Secret[:]...)
	b = append(b, d.Key[:]...)
	b = wire.AppendUvarint(b, d.Expires)
	b = wire.AppendString(b, d.Name)
	return append(b, checksum(b)...)
}

// Compact returns the link as "BERTY:" + base32, the form for QR codes.
func (d *Device) Compact() string { return compact(d.Payload()) }

// URL returns the link as "https://berty.tech/id#" + base32.
func (d *Device) URL() string { return url(d.Payload()) }

// ParseDevice parses a device link in either text form (see the package
// comment) and verifies its checksum, but not its expiry (see Expired).
// Errors wrap ErrInvalid.
func ParseDevice(s string) (*Device, error) {
	p, err := decodeText(s)
	if err != nil {
		return nil, err
	}
	return DecodeDevice(p)
}

// DecodeDevice decodes the binary form of a device link and verifies its
// checksum, but not its expiry (see Expired). Errors wrap ErrInvalid. The
// Device does not alias p.
func DecodeDevice(p []byte) (*Device, error) {
	if err := checkHeader(p, kindDevice); err != nil {
		return nil, err
	}
	r := wire.NewReader(p)
	r.Fixed(2)
	d := &Device{Secret: r.Fixed32(), Key: r.Fixed32(), Expires: r.Uvarint(^uint64(0))}
	name, end, ferr := readName(r, deviceSumSize)
	summed := func(body, sum []byte) bool { return bytes.Equal(checksum(body), sum) }
	if err := finish(p, kindDevice, end, ferr, deviceSumSize, summed); err != nil {
		return nil, err
	}
	d.Name = name
	return d, nil
}

// checksum returns the first 4 bytes of SHA-256(body).
func checksum(body []byte) []byte {
	h := sha256.Sum256(body)
	return h[:deviceSumSize]
}
