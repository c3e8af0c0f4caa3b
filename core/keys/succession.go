package keys

import (
	"fmt"

	"github.com/berty-go/berty/core/wire"
)

const ctxSuccession = "berty/v2/succession"

// SuccessionSize is the encoded size of a Succession.
const SuccessionSize = 32 + 32 + 64 + 64

// Succession is the statement that an account moved from key Old to key New
// (docs/protocol.md §5.9). Both keys sign it: Old, that its holder hands the
// account on; New, that the new key's holder takes it (no one can name
// another person's key as theirs). Anyone who held Old can sign one, a
// revoked device included, so a succession is never taken on its
// signatures alone: in a group it counts only as an event of a device that
// counts there (§5.9 says which one wins).
type Succession struct {
	Old, New Public
	OldSig   [64]byte
	NewSig   [64]byte
}

// NewSuccession returns the succession from old to next, signed by both.
func NewSuccession(old, next *Pair) Succession {
	s := Succession{Old: old.Public(), New: next.Public()}
	copy(s.OldSig[:], old.Sign(s.signed()))
	copy(s.NewSig[:], next.Sign(s.signed()))
	return s
}

func (s *Succession) signed() []byte {
	return SignContext(ctxSuccession, s.Old[:], s.New[:])
}

// Verify checks both signatures and that the record names two keys.
func (s *Succession) Verify() error {
	if s.Old == s.New {
		return fmt.Errorf("succession: %w: a key succeeding itself", ErrBadSignature)
	}
	m := s.signed()
	if !s.Old.Verify(m, s.OldSig[:]) {
		return fmt.Errorf("succession: old key's %w", ErrBadSignature)
	}
	if !s.New.Verify(m, s.NewSig[:]) {
		return fmt.Errorf("succession: new key's %w", ErrBadSignature)
	}
	return nil
}

// Append appends the encoding of s: old[32] new[32] oldSig[64] newSig[64].
func (s *Succession) Append(b []byte) []byte {
	b = append(b, s.Old[:]...)
	b = append(b, s.New[:]...)
	b = append(b, s.OldSig[:]...)
	return append(b, s.NewSig[:]...)
}

// ReadSuccession decodes a succession and verifies it: a record whose
// signatures fail is refused at decoding.
func ReadSuccession(r *wire.Reader) Succession {
	var s Succession
	s.Old = r.Fixed32()
	s.New = r.Fixed32()
	copy(s.OldSig[:], r.Fixed(64))
	copy(s.NewSig[:], r.Fixed(64))
	if r.Err() == nil {
		if err := s.Verify(); err != nil {
			r.Fail("%v", err)
		}
	}
	return s
}
