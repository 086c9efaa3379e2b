package tracker

import (
	"net/netip"

	"github.com/refedge/refedge/attribution/event"
)

// Signals is what the classifier knows about one click: request bytes (aliasing the
// request, valid only inside the handler) and the state read from Redis.
type Signals struct {
	Method, UserAgent, Accept, AcceptLanguage, Referer     []byte
	SecFetchDest, SecFetchMode, SecFetchSite, SecFetchUser []byte
	SecPurpose, Purpose, SecCHUA                           []byte
	RawQuery                                               []byte
	IP                                                     netip.Addr
	TLS, Head                                              bool
	PartnerValid                                           bool // the ref value is a well-formed partner id
	State                                                  State
}

func (s *Signals) reset() { *s = Signals{} }

// Decision accumulates reasons and keeps the verdict of highest precedence.
type Decision struct {
	Verdict event.Verdict
	click   *event.Click
}

// precedence ranks verdicts: a click flagged for several things gets the first in this
// list (docs/traffic-quality.md). Lower is stronger.
var precedence = [...]event.Verdict{
	event.UnknownPartner,
	event.BlockedPartner,
	event.UnconfirmedPartner,
	event.SelfReferral,
	event.Bot,
	event.Datacenter,
	event.HiddenFrame,
	event.Popunder,
	event.AutoRedirect,
	event.ContextAd,
	event.RateLimited,
	event.Duplicate,
	event.Valid,
}

var rank = func() (r [16]uint8) {
	for i, v := range precedence {
		r[v] = uint8(i)
	}
	return r
}()

// Flag records reason and proposes verdict v.
func (d *Decision) Flag(v event.Verdict, reason string) {
	d.click.AddReason(reason)
	if rank[v] < rank[d.Verdict] {
		d.Verdict = v
	}
}

// FlagBytes is Flag with a reason made of a prefix and request bytes.
func (d *Decision) FlagBytes(v event.Verdict, prefix string, b []byte) {
	d.click.AddReasonBytes(prefix, b)
	if rank[v] < rank[d.Verdict] {
		d.Verdict = v
	}
}

// Note records a reason that does not change the verdict (e.g. "degraded:redis").
func (d *Decision) Note(reason string) { d.click.AddReason(reason) }

// Step is one named, separately testable check.
type Step struct {
	Name string
	Run  func(s *Signals, d *Decision)
}

// Classifier runs its steps in order; every step sees every click so the recorded
// reasons are complete, and precedence picks the verdict. Pre steps judge the request
// alone; Post steps judge the shared state (partner standing, windows, limits), which
// the edge reads between the two — and only asks Redis for windows and limits when the
// Pre steps left the click valid, since nothing they find could make it worse.
type Classifier struct {
	Pre, Post []Step
}

// Start resets d for c and runs the Pre steps.
func (cl *Classifier) Start(s *Signals, c *event.Click, d *Decision) event.Verdict {
	*d = Decision{Verdict: event.Valid, click: c}
	for i := range cl.Pre {
		cl.Pre[i].Run(s, d)
	}
	return d.Verdict
}

// Finish runs the Post steps and records the verdict on the click.
func (cl *Classifier) Finish(s *Signals, d *Decision) event.Verdict {
	for i := range cl.Post {
		cl.Post[i].Run(s, d)
	}
	d.click.Verdict = d.Verdict
	return d.Verdict
}

// Classify runs every step on signals whose State is already filled in. d is working
// memory owned by the caller (the handler pools it; a local would escape through the
// steps).
func (cl *Classifier) Classify(s *Signals, c *event.Click, d *Decision) event.Verdict {
	cl.Start(s, c, d)
	return cl.Finish(s, d)
}

// stepPartner applies program rule 1: only registered partners in good standing with a
// confirmed email address.
func stepPartner(s *Signals, d *Decision) {
	switch {
	case !s.PartnerValid:
		d.Flag(event.UnknownPartner, "partner:malformed-id")
	case s.State.Degraded:
		// Redis did not answer: the partner cannot be checked here. The click still
		// counts; the ledger checks the partner again at signup.
		d.Note("degraded:redis")
	case s.State.Partner == PartnerUnknown:
		d.Flag(event.UnknownPartner, "partner:unknown")
	case s.State.Partner == PartnerBlocked:
		d.Flag(event.BlockedPartner, "partner:blocked")
	case s.State.Partner == PartnerUnconfirmed:
		d.Flag(event.UnconfirmedPartner, "partner:unconfirmed")
	}
}
