// Package tracker is refedge's public fasthttp edge: it captures referral clicks.
//
// A request carrying ref= is a click. HandleClick copies what it needs out of the
// request and runs the Classifier's Pre steps, which judge the request alone (crawler
// list, header consistency, Fetch Metadata, automatic redirects, contextual ads). It then
// reads the click's state from one StateStore call — for a click still valid, one Redis
// round trip for the duplicate window, rate limits and own-visitor check; otherwise only
// the partner's standing, usually from an in-process cache — and runs the Post steps.
// Precedence keeps one verdict; every reason is recorded. The answer: rfe_vid when the
// visitor has none, a signed rfe_ref (and the beacon token rfe_chk) only for a valid
// click, and a 302 to the marketplace origin with refedge's own parameters removed. The
// click event goes to the attribution pipeline without waiting for it.
//
// The verification beacon (beacon.go, /v.js and POST /v) re-classifies a click the
// landing page shows framed, tiny or opened as a pop-under. The link builder (links*.go)
// makes partners' links, share links and QR codes. docs/traffic-quality.md has the rules.
//
// The redirect target is built from the configured origin and a re-escaped path and
// query, never from anything the request says about hosts, so no input can move it off
// the origin.
package tracker
