package keys

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestCheckX25519 refuses the points of small order on Curve25519 and the
// non-canonical encodings (the list is the one libsodium and the Signal
// libraries block), and accepts real keys.
func TestCheckX25519(t *testing.T) {
	bad := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p−1 (order 2)
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p, non-canonical 0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1, non-canonical 1
		"cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880", // top bit set
		"4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7", // top bit set
		"d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // top bit set
	}
	for _, h := range bad {
		var u [32]byte
		hex.Decode(u[:], []byte(h))
		if err := CheckX25519(u); !errors.Is(err, ErrBadX25519) {
			t.Errorf("%s accepted: %v", h, err)
		}
	}
	for i := range 64 {
		p := FromSeed([32]byte{byte(i), 7})
		var u [32]byte
		copy(u[:], p.LegacyAgreement().PublicKey().Bytes())
		if err := CheckX25519(u); err != nil {
			t.Errorf("real key %x refused: %v", u, err)
		}
	}
}

// TestCertRefusesSmallOrderKey: a certificate whose X25519 key has small
// order fails Verify even though the member signed it.
func TestCertRefusesSmallOrderKey(t *testing.T) {
	member, device := FromSeed([32]byte{1}), FromSeed([32]byte{2})
	group := FromSeed([32]byte{3}).Public()
	c := NewCert(group, member, device, device.LegacyAgreement().PublicKey())
	if err := c.Verify(group); err != nil {
		t.Fatal(err)
	}
	c.DeviceX = [32]byte{1}
	copy(c.Sig[:], member.Sign(c.signed(group)))
	if err := c.Verify(group); !errors.Is(err, ErrBadX25519) {
		t.Fatalf("small-order key: %v, want ErrBadX25519", err)
	}
}
