package banners

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"github.com/disintegration/imaging"
)

// InputError is a refused master: the HTTP status and a message safe to show the
// uploader (it never echoes the input).
type InputError struct {
	Status int
	Msg    string
}

func (e *InputError) Error() string { return e.Msg }

func refuse(status int, format string, args ...any) *InputError {
	return &InputError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// limits bound what a master may cost to decode.
type limits struct {
	bytes  int64
	pixels int64
	side   int
}

// Master formats: an allow-list by magic bytes, never by name or Content-Type.
const (
	formatPNG  = "png"
	formatJPEG = "jpeg"
)

// sniff returns the format of an encoded image from its first bytes: PNG or JPEG, or
// a 415 that names what was sent when it is recognisable.
func sniff(head []byte) (string, *InputError) {
	switch {
	case len(head) == 0:
		return "", refuse(http.StatusBadRequest, "empty body: send the image bytes (PNG or JPEG)")
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, nil
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return formatJPEG, nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "", refuse(http.StatusUnsupportedMediaType, "GIF is not accepted: banners are JPEG, send a PNG or JPEG master")
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "", refuse(http.StatusUnsupportedMediaType, "WebP is not accepted: send a PNG or JPEG master")
	default:
		return "", refuse(http.StatusUnsupportedMediaType, "unsupported image format: send a PNG or JPEG master")
	}
}

// checkHeader reads only the image header and checks its dimensions against lim, so a
// decompression bomb is refused before a single pixel is allocated.
func checkHeader(format string, r io.Reader, lim limits) (w, h int, err error) {
	var cfg image.Config
	if format == formatPNG {
		cfg, err = png.DecodeConfig(r)
	} else {
		cfg, err = jpeg.DecodeConfig(r)
	}
	if err != nil {
		return 0, 0, corrupt(err, nil)
	}
	w, h = cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return 0, 0, refuse(http.StatusUnprocessableEntity, "image header says %dx%d", w, h)
	}
	if w > lim.side || h > lim.side || int64(w)*int64(h) > lim.pixels {
		return 0, 0, refuse(http.StatusUnprocessableEntity,
			"image is %dx%d (%d pixels): the limit is %d pixels and %d per side", w, h, int64(w)*int64(h), lim.pixels, lim.side)
	}
	return w, h, nil
}

// corrupt explains a decoding error. data, when known, tells a truncated file (no end
// marker) from a damaged one: decoders report a cut-off scan as bad data.
func corrupt(err error, data []byte) *InputError {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || data != nil && !hasEndMarker(data) {
		return refuse(http.StatusBadRequest, "image is truncated: the data ends before the image does")
	}
	return refuse(http.StatusBadRequest, "image data is corrupt: %v", err)
}

// hasEndMarker reports whether data ends as a whole PNG (IEND chunk) or JPEG (EOI
// marker, possibly followed by padding) does.
func hasEndMarker(data []byte) bool {
	if bytes.HasPrefix(data, []byte("\x89PNG")) {
		return bytes.HasSuffix(data, []byte("IEND\xaeB`\x82"))
	}
	tail := bytes.TrimRight(data[max(0, len(data)-1024):], "\x00\r\n ")
	return bytes.HasSuffix(tail, []byte{0xff, 0xd9})
}

// decodeMaster checks data as checkHeader does, then decodes it whole (which proves it
// is not truncated), applying EXIF orientation.
func decodeMaster(data []byte, lim limits) (image.Image, error) {
	if int64(len(data)) > lim.bytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, "image is %d bytes: the limit is %d", len(data), lim.bytes)
	}
	format, ierr := sniff(data)
	if ierr != nil {
		return nil, ierr
	}
	if _, _, err := checkHeader(format, bytes.NewReader(data), lim); err != nil {
		return nil, err
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, corrupt(err, data)
	}
	return img, nil
}
