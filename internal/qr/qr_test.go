package qr_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	rscqr "rsc.io/qr"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/qr"
)

// The links the tests draw.
var (
	alice      = keys.FromSeed([32]byte{1, 2, 3})
	aliceSeed  = [32]byte{4, 5, 6}
	secret     = [32]byte{7, 8, 9}
	oneTimeKey = [32]byte{10, 11, 12}
	expires    = uint64(1_767_225_600)
)

// qrLink is a link the QR tests draw: its compact form, and how to parse it.
type qrLink struct {
	text  string
	parse func(string) error
}

// qrLinks returns the longest contact link and a device link.
func qrLinks(t *testing.T) []qrLink {
	c, err := link.NewContact(alice, aliceSeed, strings.Repeat("🌻", link.MaxName/4))
	if err != nil {
		t.Fatal(err)
	}
	d, err := link.NewDevice(secret, oneTimeKey, expires, "phone")
	if err != nil {
		t.Fatal(err)
	}
	return []qrLink{
		{c.Compact(), func(s string) error { _, err := link.ParseContact(s); return err }},
		{d.Compact(), func(s string) error { _, err := link.ParseDevice(s); return err }},
	}
}

// halfBlocks maps each character QR may draw to the lightness of its upper
// and lower halves (light text on a dark terminal).
var halfBlocks = map[rune][2]bool{'█': {true, true}, '▀': {true, false}, '▄': {false, true}, ' ': {false, false}}

// raster turns a terminal drawing back into rows of modules, true for light,
// failing t on lines of unequal width or unexpected characters.
func raster(t *testing.T, drawing string) [][]bool {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(drawing, "\n"), "\n")
	var rows [][]bool
	for i, line := range lines {
		if w := utf8.RuneCountInString(line); w != utf8.RuneCountInString(lines[0]) {
			t.Fatalf("line %d is %d characters wide, line 0 %d", i, w, utf8.RuneCountInString(lines[0]))
		}
		var upper, lower []bool
		for _, r := range line {
			h, ok := halfBlocks[r]
			if !ok {
				t.Fatalf("line %d has %q: want only half blocks, full blocks and spaces", i, r)
			}
			upper, lower = append(upper, h[0]), append(lower, h[1])
		}
		rows = append(rows, upper, lower)
	}
	return rows
}

// TestQRDrawing checks, without external tools, that QR draws the level-M
// code of its text module for module, with a light quiet zone of 4 modules
// on every side.
func TestQRDrawing(t *testing.T) {
	for _, l := range qrLinks(t) {
		text := l.text
		drawing, err := qr.Terminal(text)
		if err != nil {
			t.Fatal(err)
		}
		if drawing == "" {
			t.Fatal("empty drawing")
		}
		rows := raster(t, drawing)
		code, err := rscqr.Encode(text, rscqr.M)
		if err != nil {
			t.Fatal(err)
		}
		const quiet = 4
		side := code.Size + 2*quiet
		// Lines hold two rows each, so a code of odd size ends on a half
		// line whose dark lower half is the terminal's background.
		if len(rows) != side && len(rows) != side+1 || len(rows[0]) != side {
			t.Fatalf("drawing of %d×%d modules, want %d×%d (a %d-module code and its quiet zone)", len(rows[0]), len(rows), side, side, code.Size)
		}
		for y := range side {
			for x := range side {
				if dark := !rows[y][x]; dark != code.Black(x-quiet, y-quiet) {
					t.Fatalf("module (%d, %d) of the drawing is dark=%v, the code's is %v", x-quiet, y-quiet, dark, !dark)
				}
			}
		}
	}
}

func TestQRTooLong(t *testing.T) {
	if _, err := qr.Terminal(strings.Repeat("A", 5000)); err == nil {
		t.Error("QR of 5000 characters: no error")
	}
}

// TestQRScans scans QR codes as a phone would, with zbarimg (Debian's
// zbar-tools): a PNG of the compact form made by rsc.io/qr, and QR's own
// terminal drawing as a picture. Each must read back as the text, which must
// parse.
func TestQRScans(t *testing.T) {
	if _, err := exec.LookPath("zbarimg"); err != nil {
		t.Skip("zbarimg is not on PATH: .ci/run installs zbar-tools")
	}
	dir := t.TempDir()
	for i, l := range qrLinks(t) {
		text := l.text
		code, err := rscqr.Encode(text, rscqr.M)
		if err != nil {
			t.Fatal(err)
		}
		code.Scale = 4
		drawing, err := qr.Terminal(text)
		if err != nil {
			t.Fatal(err)
		}
		for name, img := range map[string][]byte{"png": code.PNG(), "terminal": pngOf(t, raster(t, drawing), 4)} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, i))
			if err := os.WriteFile(path, img, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("zbarimg", "--raw", "-q", path).Output()
			if err != nil {
				t.Fatalf("zbarimg %s: %v", name, err)
			}
			got := strings.TrimSuffix(string(out), "\n")
			if got != text {
				t.Errorf("%s: zbarimg read %q, want %q", name, got, text)
			}
			if err := l.parse(got); err != nil {
				t.Errorf("%s: scanned text does not parse: %v", name, err)
			}
		}
	}
}

// pngOf draws rows of modules (true for light) as a PNG, scale pixels per
// module, light modules white.
func pngOf(t *testing.T, rows [][]bool, scale int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, len(rows[0])*scale, len(rows)*scale))
	for y, row := range rows {
		for x, light := range row {
			c := color.Gray{}
			if light {
				c.Y = 0xff
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
