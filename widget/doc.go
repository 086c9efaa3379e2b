// Package widget serves the kworks widget: a small rotating banner of random kworks
// from a topic a partner picks, embedded on the partner's site.
//
// The catalog (Catalog) keeps every kwork in Redis, fed by kwork.upserted and
// kwork.moderated events (Apply, CatalogConsumer) and by the admin API. Only active
// kworks are indexed, in one set per category, so a render draws N distinct random
// kworks with a single SRANDMEMBER inside a Lua script (one round trip, one hash slot
// per category: Redis Cluster safe). A removal drops the kwork from the index at once.
//
// Partners create widget configs (Spec: topic or explicit kworks, size, theme, cards,
// rotation, language) through the partner API or the builder page (/w/builder). The
// embed code loads /w/{id}.js, a tiny cacheable loader that inserts a sandboxed iframe
// of /w/{id}. The frame is rendered with html/template on every request (no-store, CSP
// with a per-response nonce): N cards, each a target=_blank link to
// {LinkBase}{kwork path}?ref={partner}&src=widget&cr={widget}, carrying the render id
// and a per-card id. Rotation is a few lines of inline JS; without JS the frame is a
// static, scrollable set.
//
// When at least half of the frame has been visible for one second, the frame posts a
// token signed with the render id to /w/{id}/view; the first valid post per render (a
// Redis SET NX) becomes an attribution.Impression with source "widget".
//
// Thumbnails (/w/t/{kwork}/{W}x{H}.jpg) come only from images uploaded through the
// admin API, normalised once at upload; refedge never fetches a URL it was given. A
// kwork without an image gets a generated placeholder. Resized bytes are cached in a
// size-bounded LRU.
package widget
