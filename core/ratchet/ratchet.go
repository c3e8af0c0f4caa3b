// Package ratchet implements Berty's message encryption: a symmetric sender
// ratchet per device per group, with epochs (docs/protocol.md §6).
//
// A device encrypts its messages with keys from its own chain: chain key
// ck(n) gives message key mk(n) and ck(n+1) by HKDF-Expand with two distinct
// labels, and ck(n) is then forgotten. Receivers hold each sender's chain from
// the counter at which they were given it, so a member who joins later cannot
// read earlier messages, and a key used once is deleted (forward secrecy).
// On a member removal, or every N messages or T hours, the sender starts a new
// chain (epoch+1) from fresh randomness and hands it only to the current
// members' devices: removed members cannot read what follows, and a stolen
// chain key stops working at the next rotation.
package ratchet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/berty-go/berty/core/seal"
)

// DefaultWindow is how many skipped message keys a receiving chain keeps for
// out-of-order delivery, and how far ahead of its position it will derive.
const DefaultWindow = 1000

// Errors from Recv.Key.
var (
	ErrKeyUsed     = errors.New("message key already used or never kept")
	ErrTooFarAhead = errors.New("message counter too far ahead of the chain")
	ErrWrongEpoch  = errors.New("message from an epoch this device was not given")
)

// Step derives the message key for ck's position and the next chain key (§6.1).
func Step(ck *[32]byte) (mk, next [32]byte) {
	return seal.Expand32(ck, seal.LabelMessageKey), seal.Expand32(ck, seal.LabelChainKey)
}

// Send is a device's own sending chain. The zero value is not usable; make
// one with NewSend. Callers persist it after every Next, before the sealed
// message leaves the process.
type Send struct {
	Epoch   uint32
	Counter uint32   // position of CK
	CK      [32]byte // chain key at Counter
	Sent    uint32   // messages sent in this epoch, for periodic rotation
	Started int64    // when this epoch started, in the caller's clock (unix seconds)
	// Base is the chain key at counter 0 of the epoch. Groups whose members
	// are all known in advance (account and contact groups) keep it, so a
	// device seen only after the first messages can still read them; it is
	// dropped with the epoch at the next rotation (§6.3).
	Base [32]byte
}

// NewSend starts epoch with a fresh random chain key.
func NewSend(epoch uint32, now int64, rand io.Reader) (*Send, error) {
	s := &Send{Epoch: epoch, Started: now}
	if _, err := io.ReadFull(rand, s.CK[:]); err != nil {
		return nil, fmt.Errorf("new chain: %w", err)
	}
	s.Base = s.CK
	return s, nil
}

// Next returns the counter and key for the next message and advances.
func (s *Send) Next() (counter uint32, mk [32]byte) {
	mk, next := Step(&s.CK)
	counter = s.Counter
	s.CK, s.Counter = next, s.Counter+1
	s.Sent++
	return counter, mk
}

// Recv is what a receiver holds of one sender's chain in one epoch.
type Recv struct {
	Epoch   uint32
	Counter uint32   // position of CK: the next key not yet derived
	CK      [32]byte // chain key at Counter
	// Skipped holds keys derived past but not used yet, bounded by Window.
	Skipped map[uint32][32]byte
	Window  int // 0 means DefaultWindow
}

// NewRecv returns a receiving chain starting at (epoch, counter, ck), as a
// sender hands it over.
func NewRecv(epoch, counter uint32, ck [32]byte) *Recv {
	return &Recv{Epoch: epoch, Counter: counter, CK: ck}
}

func (r *Recv) window() int {
	if r.Window <= 0 {
		return DefaultWindow
	}
	return r.Window
}

// Key returns the message key for counter and deletes it from the chain, so
// that each key opens at most one message. Keys skipped on the way are kept,
// up to the window; the oldest are dropped beyond it.
func (r *Recv) Key(counter uint32) ([32]byte, error) {
	if counter < r.Counter {
		mk, ok := r.Skipped[counter]
		if !ok {
			return mk, ErrKeyUsed
		}
		delete(r.Skipped, counter)
		return mk, nil
	}
	if uint64(counter-r.Counter) > uint64(r.window()) {
		return [32]byte{}, ErrTooFarAhead
	}
	for r.Counter < counter {
		mk, next := Step(&r.CK)
		if r.Skipped == nil {
			r.Skipped = map[uint32][32]byte{}
		}
		r.Skipped[r.Counter] = mk
		r.CK, r.Counter = next, r.Counter+1
	}
	for len(r.Skipped) > r.window() {
		oldest := r.Counter
		for c := range r.Skipped {
			oldest = min(oldest, c)
		}
		delete(r.Skipped, oldest)
	}
	mk, next := Step(&r.CK)
	r.CK, r.Counter = next, r.Counter+1
	return mk, nil
}

// Clone returns a deep copy, so a caller can try a key and keep the change
// only if the message also authenticates.
func (r *Recv) Clone() *Recv {
	c := *r
	if r.Skipped != nil {
		c.Skipped = make(map[uint32][32]byte, len(r.Skipped))
		for k, v := range r.Skipped {
			c.Skipped[k] = v
		}
	}
	return &c
}

// HeaderSize is the size of a message header in clear: epoch and counter.
const HeaderSize = 8

// SealedHeaderSize is the size of a header sealed with the group header key.
const SealedHeaderSize = HeaderSize + seal.Overhead

// Binding is what a sealed message is bound to: the entry fields that place
// it (§6.2). A message copied into another entry does not open.
type Binding struct {
	Topic  [32]byte
	Author [32]byte
	Seq    uint64
}

func (b *Binding) ad(ctx string, extra []byte) []byte {
	out := make([]byte, 0, len(ctx)+1+72+len(extra))
	out = append(out, ctx...)
	out = append(out, 0)
	out = append(out, b.Topic[:]...)
	out = append(out, b.Author[:]...)
	out = binary.BigEndian.AppendUint64(out, b.Seq)
	return append(out, extra...)
}

const (
	ctxHeader = "berty/v1/message-header"
	ctxBody   = "berty/v1/message-body"
)

// SealMessage seals plaintext with the next key of s: the header (epoch,
// counter) under the group header key, the body under the message key with
// the sealed header as associated data. s advances; persist it first.
func SealMessage(s *Send, headerKey *[32]byte, bind *Binding, plaintext []byte, rand io.Reader) ([]byte, error) {
	counter, mk := s.Next()
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:4], s.Epoch)
	binary.BigEndian.PutUint32(hdr[4:], counter)
	out := make([]byte, 0, SealedHeaderSize+len(plaintext)+seal.Overhead)
	out, err := seal.Seal(out, headerKey, hdr[:], bind.ad(ctxHeader, nil), rand)
	if err != nil {
		return nil, err
	}
	return seal.Seal(out, &mk, plaintext, bind.ad(ctxBody, out[:SealedHeaderSize]), rand)
}

// OpenHeader returns the epoch and counter of a sealed message.
func OpenHeader(headerKey *[32]byte, bind *Binding, sealed []byte) (epoch, counter uint32, err error) {
	if len(sealed) < SealedHeaderSize+seal.Overhead {
		return 0, 0, seal.ErrOpen
	}
	hdr, err := seal.Open(headerKey, sealed[:SealedHeaderSize], bind.ad(ctxHeader, nil))
	if err != nil {
		return 0, 0, err
	}
	return binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:]), nil
}

// OpenBody opens the body of a sealed message with its message key.
func OpenBody(mk *[32]byte, bind *Binding, sealed []byte) ([]byte, error) {
	if len(sealed) < SealedHeaderSize+seal.Overhead {
		return nil, seal.ErrOpen
	}
	return seal.Open(mk, sealed[SealedHeaderSize:], bind.ad(ctxBody, sealed[:SealedHeaderSize]))
}

// Open opens a sealed message with r, advancing r only if it authenticates.
func Open(r *Recv, headerKey *[32]byte, bind *Binding, sealed []byte) ([]byte, error) {
	epoch, counter, err := OpenHeader(headerKey, bind, sealed)
	if err != nil {
		return nil, err
	}
	if epoch != r.Epoch {
		return nil, ErrWrongEpoch
	}
	try := r.Clone()
	mk, err := try.Key(counter)
	if err != nil {
		return nil, err
	}
	pt, err := OpenBody(&mk, bind, sealed)
	if err != nil {
		return nil, err
	}
	*r = *try
	return pt, nil
}
