package seal

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"io"
)

// The known-answer vectors need a fixed ML-KEM ciphertext: the tests of this
// package encapsulate with 32 bytes read from the caller's reader (FIPS 203
// ML-KEM.Encaps_internal), which Go reserves for known-answer tests.
func init() { Encapsulate = DerandomizedEncapsulate }

// DerandomizedEncapsulate is Encapsulate with its randomness from rand.
func DerandomizedEncapsulate(ek *mlkem.EncapsulationKey768, rand io.Reader) ([]byte, []byte, error) {
	var m [32]byte
	if _, err := io.ReadFull(rand, m[:]); err != nil {
		return nil, nil, err
	}
	return mlkemtest.Encapsulate768(ek, m[:])
}
