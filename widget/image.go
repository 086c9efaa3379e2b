package widget

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // DecodeConfig formats
	_ "image/png"

	"github.com/disintegration/imaging"
	"github.com/redis/go-redis/v9"
)

// Image upload errors, each with the HTTP status the admin API answers.
var (
	ErrImageTooLarge   = errors.New("image is too large")
	ErrImageFormat     = errors.New("image must be JPEG or PNG")
	ErrImageDimensions = errors.New("image has too many pixels")
)

// normalizeImage turns an uploaded JPEG or PNG into the copy the catalog keeps: at most
// lim.StoredSide on its longer side, transparency flattened onto white, re-encoded as
// JPEG (which also drops metadata and anything appended to the file). The limits are
// checked with image.DecodeConfig before any pixel is decoded. It returns the bytes and
// their version (a content hash, so thumbnail URLs can be cached forever).
func normalizeImage(data []byte, lim ImageLimits) ([]byte, string, error) {
	if len(data) == 0 {
		return nil, "", ErrImageFormat
	}
	if len(data) > lim.MaxBytes {
		return nil, "", ErrImageTooLarge
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return nil, "", ErrImageFormat
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide ||
		cfg.Width*cfg.Height > lim.MaxPixels {
		return nil, "", fmt.Errorf("%w: %dx%d (at most %d per side and %d in all)", ErrImageDimensions,
			cfg.Width, cfg.Height, lim.MaxSide, lim.MaxPixels)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrImageFormat, err)
	}
	b := img.Bounds()
	if b.Dx() > lim.StoredSide || b.Dy() > lim.StoredSide {
		img = imaging.Fit(img, lim.StoredSide, lim.StoredSide, imaging.Lanczos)
	}
	b = img.Bounds()
	flat := imaging.New(b.Dx(), b.Dy(), color.White)
	flat = imaging.Overlay(flat, img, image.Pt(0, 0), 1)
	var out bytes.Buffer
	if err := imaging.Encode(&out, flat, imaging.JPEG, imaging.JPEGQuality(88)); err != nil {
		return nil, "", fmt.Errorf("cannot encode image: %w", err)
	}
	sum := sha256.Sum256(out.Bytes())
	return out.Bytes(), hex.EncodeToString(sum[:6]), nil
}

// SetImage stores a normalised image (from normalizeImage) for kwork id and refreshes
// its card so renders ask for the new version.
func (c *Catalog) SetImage(ctx context.Context, id string, data []byte, version string) error {
	n, err := c.r.Exists(ctx, kworkKey(id)).Result()
	if err != nil {
		return fmt.Errorf("cannot store image of %s: %w", id, err)
	}
	if n == 0 {
		return ErrKworkNotFound
	}
	// Both keys share the {id} hash tag, so MULTI works on Redis Cluster too.
	_, err = c.r.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, imageKey(id), data, 0)
		p.HSet(ctx, kworkKey(id), "img", version)
		p.HIncrBy(ctx, kworkKey(id), "rev", 1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot store image of %s: %w", id, err)
	}
	return c.reindex(ctx, id)
}

// Image returns the version and bytes of kwork id's image; version "" means the kwork
// has none. ErrKworkNotFound when the kwork is unknown.
func (c *Catalog) Image(ctx context.Context, id string) (string, []byte, error) {
	v, err := c.r.HMGet(ctx, kworkKey(id), "status", "img").Result()
	if err != nil {
		return "", nil, fmt.Errorf("cannot read image of %s: %w", id, err)
	}
	if v[0] == nil {
		return "", nil, ErrKworkNotFound
	}
	ver, _ := v[1].(string)
	if ver == "" {
		return "", nil, nil
	}
	data, err := c.r.Get(ctx, imageKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("cannot read image of %s: %w", id, err)
	}
	return ver, data, nil
}
