package tracker

// QR codes for built links. The matrix comes from github.com/boombuler/barcode/qr (MIT,
// maintained, pure Go; it encodes to a module matrix and leaves drawing to us), so the PNG
// and the SVG are the same code: the PNG is a two-colour paletted image with the 4-module
// quiet zone ISO/IEC 18004 asks for, the SVG one path of horizontal runs.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"

	"github.com/boombuler/barcode/qr"
)

// qrQuietZone is the light margin around the symbol, in modules (ISO/IEC 18004 §6.3.8).
const qrQuietZone = 4

// qrMatrix is a square of modules; dark[y*size+x] is true for a dark module.
type qrMatrix struct {
	size int
	dark []bool
}

// encodeQR encodes text in byte mode at error-correction level M (15% of the symbol may
// be lost: a printed code survives a smudge or a logo sticker).
func encodeQR(text string) (*qrMatrix, error) {
	bc, err := qr.Encode(text, qr.M, qr.Unicode)
	if err != nil {
		return nil, fmt.Errorf("cannot encode a QR code of %d bytes: %w", len(text), err)
	}
	b := bc.Bounds()
	m := &qrMatrix{size: b.Dx(), dark: make([]bool, b.Dx()*b.Dy())}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, _, _, _ := bc.At(b.Min.X+x, b.Min.Y+y).RGBA()
			m.dark[y*m.size+x] = r < 0x8000
		}
	}
	return m, nil
}

var qrPalette = color.Palette{color.White, color.Black}

// png renders m with px pixels per module and the quiet zone.
func (m *qrMatrix) png(px int) ([]byte, error) {
	side := (m.size + 2*qrQuietZone) * px
	img := image.NewPaletted(image.Rect(0, 0, side, side), qrPalette)
	for y := 0; y < m.size; y++ {
		for x := 0; x < m.size; x++ {
			if !m.dark[y*m.size+x] {
				continue
			}
			x0, y0 := (x+qrQuietZone)*px, (y+qrQuietZone)*px
			for yy := y0; yy < y0+px; yy++ {
				row := img.Pix[yy*img.Stride:]
				for xx := x0; xx < x0+px; xx++ {
					row[xx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("cannot encode the QR PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// pngDataURL returns the PNG as a data: URL, ready for <img src>.
func (m *qrMatrix) pngDataURL(px int) (string, error) {
	b, err := m.png(px)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b), nil
}

// svg renders m as a standalone SVG document: one unit per module, the quiet zone in the
// viewBox, dark modules as one path of horizontal runs ("M x y h n v1 h -n z").
func (m *qrMatrix) svg() string {
	side := strconv.Itoa(m.size + 2*qrQuietZone)
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + side + ` ` + side +
		`" width="` + side + `0" height="` + side + `0" shape-rendering="crispEdges">` +
		`<rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="`)
	for y := 0; y < m.size; y++ {
		for x := 0; x < m.size; {
			if !m.dark[y*m.size+x] {
				x++
				continue
			}
			run := 1
			for x+run < m.size && m.dark[y*m.size+x+run] {
				run++
			}
			n := strconv.Itoa(run)
			b.WriteString("M" + strconv.Itoa(x+qrQuietZone) + " " + strconv.Itoa(y+qrQuietZone) + "h" + n + "v1h-" + n + "z")
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
