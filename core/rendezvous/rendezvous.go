// Package rendezvous computes the rotating meeting points where devices that
// share a secret find each other on a public discovery mechanism (the DHT,
// mDNS neighbours, rendezvous servers) without telling it who they are
// (docs/protocol.md §10.3, §11.4).
//
// A point is HMAC-SHA256(key, label || 0x00 || period), period being the
// number of whole days since the Unix epoch. Only holders of the key can
// compute it, and it changes every day, so an observer links neither the
// secret nor the same device across days. Within an hour of a day boundary
// a device uses both days' points, so two clocks up to an hour apart still
// meet.
//
// A point is public to whoever is asked for it, so a slot at a point is given
// only to a requester that proves it holds the key: Proof binds the key to
// the point and to both peers' identities, so it can be neither computed
// without the key nor replayed by another peer.
//
// The package is pure: time comes in as Unix seconds.
package rendezvous

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// Labels, one per kind of meeting. They are part of the protocol.
const (
	// LabelGroup: the members of a group, keyed by its replication key.
	LabelGroup = "berty/v1/rendezvous"
	// LabelContact: a contact request, keyed by the responder's contact
	// link seed.
	LabelContact = "berty/v1/contact-rendezvous"
	// LabelDeviceLink: a new device and the device approving it, keyed by
	// the one-time secret of the device link.
	LabelDeviceLink = "berty/v1/device-link-rendezvous"
)

// labelProof separates proofs from points, which HMAC the same key.
const labelProof = "berty/v1/rendezvous-proof"

// ProofSize is the size of a Proof.
const ProofSize = 32

// Proof returns the proof that the requester holds key, for an exchange at
// point with the responder: HMAC-SHA256(key, "berty/v1/rendezvous-proof" ||
// 0x00 || label || 0x00 || point || u16be len || requester || u16be len ||
// responder), requester and responder being the two peers' network
// identities (libp2p peer IDs).
func Proof(key []byte, label string, point Point, requester, responder []byte) [ProofSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(labelProof))
	m.Write([]byte{0})
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(point[:])
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(requester))))
	m.Write(requester)
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(responder))))
	m.Write(responder)
	var p [ProofSize]byte
	m.Sum(p[:0])
	return p
}

// CheckProof reports, in constant time, whether proof is Proof(key, label,
// point, requester, responder).
func CheckProof(key []byte, label string, point Point, requester, responder []byte, proof []byte) bool {
	want := Proof(key, label, point, requester, responder)
	return hmac.Equal(want[:], proof)
}

// Period is the life of one point, and Grace how close to a period boundary
// the neighbouring point is used too; both in seconds.
const (
	Period = 24 * 60 * 60
	Grace  = 60 * 60
)

// Point is a meeting point.
type Point = [32]byte

// At returns the point of key for one period.
func At(key []byte, label string, period uint64) Point {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(binary.BigEndian.AppendUint64(nil, period))
	var p Point
	m.Sum(p[:0])
	return p
}

// Current returns the points of key at Unix time now: the current period's
// point, and during the first (last) Grace seconds of a period the previous
// (next) one as well — both to announce and to look up. Whichever side's
// clock is ahead, two clocks less than Grace apart share a point.
func Current(key []byte, label string, now uint64) (announce, lookup []Point) {
	p := now / Period
	points := []Point{At(key, label, p)}
	if now-p*Period < Grace && p > 0 {
		points = append(points, At(key, label, p-1))
	}
	if (p+1)*Period-now <= Grace {
		points = append(points, At(key, label, p+1))
	}
	return points, points
}
