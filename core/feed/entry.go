// Package feed implements Berty's logs: one signed, hash-chained, gap-free
// feed per device per group (docs/protocol.md §4).
//
// An [Entry] is the unit that is replicated. Its encoding is canonical and its
// ID is the SHA-256 of that encoding. A [Tracker] holds what a replica knows
// of a group's feeds — the version vector, entries waiting for a predecessor,
// frozen devices — and decides for each received entry whether to append it,
// hold it, ignore it as a duplicate, or refuse it.
//
// Start with Entry and Decode, then Tracker.Ingest.
package feed

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
)

// Limits on entries (§4.1). Anything larger is refused before any
// cryptographic work is done.
const (
	Version       = 1
	MaxPayload    = 64 << 10
	MaxDeps       = 64
	MaxSeq        = 1 << 48
	MaxLamport    = 1 << 62
	MaxEntrySize  = 1 + 32 + 32 + 8 + 32 + 9 + 2 + MaxDeps*(32+8) + 1 + 3 + MaxPayload + 32 + 1 + 64
	ctxEntry      = "berty/v1/entry"
	signatureSize = 64
	macSize       = 32
)

// Kind says what an entry's payload is.
type Kind uint8

// Entry kinds. Their values are on the wire.
const (
	KindMetadata Kind = 1 // sealed with the group's metadata key (§5)
	KindMessage  Kind = 2 // sealed by the author's ratchet (§6)
)

// ID is the SHA-256 of an entry's encoding.
type ID [32]byte

func (id ID) String() string { return fmt.Sprintf("%x", id[:6]) }

// Dep is a causal dependency: the author had seen Device's feed up to Seq.
type Dep struct {
	Device keys.Public
	Seq    uint64
}

// Entry is one decoded, not yet verified, log entry. Encoded holds its exact
// bytes; the other fields are views of them. Entries are immutable.
//
// An entry may be unsigned (§4.5): a device signs the last entry of each
// batch, and the hash chain authenticates the ones before it. An unsigned
// entry proves only that its writer holds the replication key; the Tracker
// appends it once a signed successor chains back to it.
type Entry struct {
	Topic   [32]byte
	Author  keys.Public
	Seq     uint64
	Prev    ID
	Lamport uint64
	Deps    []Dep
	Kind    Kind
	Payload []byte
	MAC     [macSize]byte
	Signed  bool
	Sig     [signatureSize]byte

	ID      ID // SHA-256 of the encoding up to and including the MAC
	Encoded []byte
}

// Unsigned is what an author fills in before signing.
type Unsigned struct {
	Topic   [32]byte
	Seq     uint64
	Prev    ID
	Lamport uint64
	Deps    []Dep // sorted by device, unique, not the author
	Kind    Kind
	Payload []byte
}

// Sign encodes u, MACs it under the replication key and signs it with the
// author's device key. It returns the entry as any replica would decode it.
func Sign(u *Unsigned, replication *[32]byte, author *keys.Pair) (*Entry, error) {
	e, err := Build(u, replication, author.Public())
	if err != nil {
		return nil, err
	}
	return e.WithSignature(author), nil
}

// Build encodes u and MACs it, unsigned: an entry the author will
// authenticate with a signed successor (§4.5).
func Build(u *Unsigned, replication *[32]byte, author keys.Public) (*Entry, error) {
	if err := u.check(author); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+32+32+10+32+10+len(u.Deps)*42+4+len(u.Payload)+macSize+1+signatureSize)
	b = append(b, Version)
	b = append(b, u.Topic[:]...)
	b = append(b, author[:]...)
	b = wire.AppendUvarint(b, u.Seq)
	b = append(b, u.Prev[:]...)
	b = wire.AppendUvarint(b, u.Lamport)
	b = wire.AppendUvarint(b, uint64(len(u.Deps)))
	for _, d := range u.Deps {
		b = append(b, d.Device[:]...)
		b = wire.AppendUvarint(b, d.Seq)
	}
	b = append(b, byte(u.Kind))
	b = wire.AppendBytes(b, u.Payload)
	b = append(b, mac(replication, b)...)
	b = append(b, 0)
	return Decode(b)
}

// WithSignature returns e signed by its author: the same ID, with the
// signature appended. A signed e is returned as is.
func (e *Entry) WithSignature(author *keys.Pair) *Entry {
	if e.Signed {
		return e
	}
	b := make([]byte, 0, len(e.Encoded)+signatureSize)
	b = append(b, e.Encoded[:len(e.Encoded)-1]...)
	b = append(b, 1)
	b = append(b, author.Sign(keys.SignContext(ctxEntry, e.ID[:]))...)
	d, err := Decode(b)
	if err != nil {
		panic("feed: signing a decodable entry made it undecodable: " + err.Error())
	}
	return d
}

func (u *Unsigned) check(author keys.Public) error {
	switch {
	case u.Seq < 1 || u.Seq > MaxSeq:
		return fmt.Errorf("seq %d out of range", u.Seq)
	case u.Lamport > MaxLamport:
		return fmt.Errorf("lamport %d out of range", u.Lamport)
	case len(u.Deps) > MaxDeps:
		return fmt.Errorf("%d deps, limit %d", len(u.Deps), MaxDeps)
	case len(u.Payload) > MaxPayload:
		return fmt.Errorf("payload of %d bytes, limit %d: %w", len(u.Payload), MaxPayload, ErrTooLarge)
	case u.Kind != KindMetadata && u.Kind != KindMessage:
		return fmt.Errorf("unknown kind %d", u.Kind)
	}
	for i, d := range u.Deps {
		if d.Device == author || d.Seq < 1 || (i > 0 && !less(u.Deps[i-1].Device, d.Device)) {
			return fmt.Errorf("deps not sorted, unique, positive and foreign")
		}
	}
	return nil
}

// ErrTooLarge is wrapped when an encoded entry exceeds MaxEntrySize, or a
// payload given to Sign exceeds MaxPayload. (A decoded payload length above
// MaxPayload inside a smaller entry is simply malformed.)
var ErrTooLarge = errors.New("too large")

// Decode parses an entry strictly (§4.1): exact lengths, canonical varints,
// limits, no trailing bytes. It copies b. It checks the form only; Verify
// checks the MAC and the signature.
func Decode(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("entry of %d bytes: %w: %w", len(b), wire.ErrMalformed, ErrTooLarge)
	}
	b = append([]byte(nil), b...)
	r := wire.NewReader(b)
	if v := r.Byte(); v != Version && r.Err() == nil {
		r.Fail("entry version %d, want %d", v, Version)
	}
	e := &Entry{Encoded: b}
	e.Topic = r.Fixed32()
	e.Author = r.Fixed32()
	e.Seq = r.Uvarint(MaxSeq)
	e.Prev = r.Fixed32()
	e.Lamport = r.Uvarint(MaxLamport)
	n := r.Uvarint(MaxDeps)
	if n > 0 && r.Err() == nil {
		e.Deps = make([]Dep, n)
		for i := range e.Deps {
			e.Deps[i] = Dep{Device: r.Fixed32(), Seq: r.Uvarint(MaxSeq)}
		}
	}
	e.Kind = Kind(r.Byte())
	e.Payload = r.Bytes(MaxPayload)
	copy(e.MAC[:], r.Fixed(macSize))
	idEnd := r.Offset()
	switch flag := r.Byte(); flag {
	case 0:
	case 1:
		e.Signed = true
		copy(e.Sig[:], r.Fixed(signatureSize))
	default:
		if r.Err() == nil {
			r.Fail("signature flag %d", flag)
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode entry: %w", err)
	}
	u := Unsigned{Seq: e.Seq, Lamport: e.Lamport, Deps: e.Deps, Kind: e.Kind, Payload: e.Payload}
	if err := u.check(e.Author); err != nil {
		return nil, fmt.Errorf("decode entry: %w: %w", wire.ErrMalformed, err)
	}
	if (e.Seq == 1) != (e.Prev == ID{}) {
		return nil, fmt.Errorf("decode entry: %w: prev must be zero exactly at seq 1", wire.ErrMalformed)
	}
	if e.Seq == 1 && e.Kind != KindMetadata {
		return nil, fmt.Errorf("decode entry: %w: seq 1 must be a metadata entry", wire.ErrMalformed)
	}
	e.ID = sha256.Sum256(b[:idEnd])
	return e, nil
}

// Errors from Verify.
var (
	ErrBadMAC       = errors.New("bad replication MAC")
	ErrBadSignature = errors.New("bad entry signature")
	ErrWrongGroup   = errors.New("entry for another group")
)

// Verify checks that e belongs to the group with this topic, that its MAC is
// valid under the replication key and, if e is signed, that its author signed
// it. The MAC is checked first: it is cheap and is all a server without
// member keys can check. An unsigned entry that passes is authentic only once
// a signed successor chains to it (Tracker).
func (e *Entry) Verify(topic, replication *[32]byte) error {
	if e.Topic != *topic {
		return ErrWrongGroup
	}
	if err := e.VerifyMAC(replication); err != nil {
		return err
	}
	if e.Signed && !e.Author.Verify(keys.SignContext(ctxEntry, e.ID[:]), e.Sig[:]) {
		return ErrBadSignature
	}
	return nil
}

// VerifyMAC checks only the replication MAC. Entries must come from Decode
// or Sign: a hand-built Entry whose Encoded is too short fails.
func (e *Entry) VerifyMAC(replication *[32]byte) error {
	end := len(e.Encoded) - 1
	if e.Signed {
		end -= signatureSize
	}
	if end < macSize {
		return ErrBadMAC
	}
	body := e.Encoded[:end-macSize]
	if !hmac.Equal(mac(replication, body), e.MAC[:]) {
		return ErrBadMAC
	}
	return nil
}

func mac(key *[32]byte, b []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(b)
	return m.Sum(nil)
}

func less(a, b keys.Public) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
