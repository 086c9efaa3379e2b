package event

import (
	"time"
)

// Revocation re-classifies a click after the redirect: the verification beacon showed
// it framed, tiny or opened behind another window. Its attribution is withdrawn.
type Revocation struct {
	ClickID   string
	PartnerID string
	// ClickTime is when the click happened (from its signed token); Time when it was revoked.
	ClickTime, Time time.Time
	Verdict         Verdict
	Reasons         []string
}

// AppendEnvelope appends the revocation as a click.revoked envelope on referral.clicks.
func (r *Revocation) AppendEnvelope(dst []byte) []byte {
	dst = appendEnvelopeHead(dst, "rev-"+r.ClickID, TypeClickRevoked, r.Time)
	dst = append(dst, `"click_id":`...)
	dst = appendString(dst, r.ClickID)
	dst = appendField(dst, "partner_id", r.PartnerID)
	dst = appendField(dst, "verdict", r.Verdict.String())
	dst = append(dst, `,"click_at":"`...)
	dst = r.ClickTime.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","reasons":[`...)
	for i, s := range r.Reasons {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, "]}}"...)
}
