// Package tracker is refedge's public fasthttp edge: it captures referral clicks.
//
// A request carrying ref= is a click. HandleClick copies what it needs out of the
// request, reads the click's state (partner standing, and later duplicate and rate
// windows) from one StateStore round trip, runs the Classifier — a list of small named
// Steps that add reason codes and propose verdicts, of which precedence keeps one — and
// then answers: rfe_vid when the visitor has none, a signed rfe_ref only for a valid
// click, and a 302 to the marketplace origin with refedge's own parameters removed. The
// click event goes to the attribution pipeline without waiting for it.
//
// The redirect target is built from the configured origin and a re-escaped path and
// query, never from anything the request says about hosts, so no input can move it off
// the origin.
package tracker
