package handshake

// Hooks for the external tests: the fuzz targets check that what a handshake
// returns re-encodes to a payload that decodes again.

func EncodeCard(c *Card) []byte            { return c.encode() }
func DecodeCard(b []byte) (*Card, error)   { return decodeCard(b) }
func EncodeGrant(g *Grant) []byte          { return g.encode() }
func DecodeGrant(b []byte) (*Grant, error) { return decodeGrant(b) }
