package keys_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzReadCert decodes arbitrary bytes as a certificate through a
// wire.Reader and verifies it for an arbitrary group. Nothing may panic; a
// certificate that decodes must re-encode to exactly its input; errors must
// wrap wire.ErrMalformed; a certificate that verifies must give its agreement
// key.
func FuzzReadCert(f *testing.F) {
	for _, v := range certVectors() {
		g := keys.Public(kat.Hex32(f, v.In, "group"))
		c := keys.NewCert(g, keys.FromSeed(kat.Hex32(f, v.In, "member_seed")), keys.FromSeed(kat.Hex32(f, v.In, "device_seed")), keys.FromSeed(kat.Hex32(f, v.In, "device_seed")).LegacyAgreement().PublicKey())
		enc := c.Append(nil)
		f.Add(g[:], enc)
		f.Add(g[:], enc[:len(enc)-1])
		f.Add(g[:], enc[:32])
		f.Add(g[:], append(bytes.Clone(enc), 0))
		f.Add(katGroupID[:], enc)
	}
	f.Add([]byte{}, []byte{})
	f.Add(katGroupID[:], make([]byte, keys.CertSize))
	f.Add(katGroupID[:], bytes.Repeat([]byte{0xff}, keys.CertSize))
	f.Fuzz(func(t *testing.T, group, data []byte) {
		var g keys.Public
		copy(g[:], group)
		r := wire.NewReader(data)
		c := keys.ReadCert(r)
		if err := r.Done(); err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if len(data) == keys.CertSize {
				t.Fatalf("refused a %d-byte certificate: %v", len(data), err)
			}
			return
		}
		if enc := c.Append(nil); !bytes.Equal(enc, data) {
			t.Fatalf("ReadCert then Append gives %x, input was %x", enc, data)
		}
		// Member and Device come from the wire: their X25519 forms must not
		// panic whatever they hold.
		_, _ = c.Member.X25519()
		_, _ = c.Device.X25519()
		if err := c.Verify(g); err == nil {
			_ = c.AgreementKey()
		}
	})
}
