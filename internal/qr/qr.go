// Package qr draws QR codes of links for terminals (berty id --qr, berty
// mini's /contact share qr). It lives outside core/link because drawing is
// presentation, and the QR library reaches for the terminal.
package qr

import (
	"bytes"
	"fmt"

	"github.com/mdp/qrterminal/v3"
	"rsc.io/qr"
)

// Terminal returns a QR code of text (error correction level M, with the standard
// quiet zone of 4 modules) drawn for a terminal with Unicode half blocks, two
// rows of modules per line of text. It is drawn for light text on a dark
// background: '█' is two light modules and ' ' two dark ones. It fails if
// text is too long for a QR code.
//
// Give it a link's Compact form: uppercase "BERTY:" + base32 is all QR
// alphanumeric, which makes a smaller code than the URL form.
func Terminal(text string) (string, error) {
	// qrterminal drops rsc.io/qr's error and then dereferences the nil code,
	// so the text is checked first.
	if _, err := qr.Encode(text, qr.M); err != nil {
		return "", fmt.Errorf("QR code of %d characters: %w", len(text), err)
	}
	var b bytes.Buffer
	qrterminal.GenerateHalfBlock(text, qrterminal.M, &b)
	return b.String(), nil
}
