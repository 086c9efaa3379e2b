// Package banners serves the program's banners: every size (Sizes) of every creative,
// rendered from master artwork, cached, and embedded by partners with a ref= code.
//
// Creatives come from three places: the generated default set (package brand), the
// masters folder read at start-up, and uploads through the admin listener. Every
// master, wherever it comes from, passes the same checks (input.go): format by magic
// bytes (PNG, JPEG), size and pixel limits read from the header before any pixel is
// decoded, then a full decode. A creative may hold several masters; each size is drawn
// from the one closest to it in aspect ratio.
//
// Rendering (render.go) is a list of steps: pick the padding colour, place the size's
// window on the master (place.go: crop around the focal point without cutting into the
// safe rectangle, else pad), Lanczos resize, sharpen, compose, encode JPEG. Each size
// is rendered once per creative version — a hash of masters, frames and settings — and
// kept in memory and in the disk cache; concurrent requests for a cold size wait on one
// render (singleflight), and start-up warms every size in the background.
//
// Serving (serve.go) is a map lookup and a copy of precomputed bytes: a strong ETag,
// If-None-Match answered 304, Cache-Control by URL kind. A load with ?ref= hands an
// impression record to a worker without waiting (impressions.go), which deduplicates
// per visitor and enqueues an attribution.Impression. The materials page and the
// partner API list every banner with its embed code.
package banners
