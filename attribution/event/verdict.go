package event

// Verdict is the tracker's decision about one click. Only Valid attributes.
type Verdict uint8

// Verdicts, as stored in ClickHouse and sent on Kafka (docs/traffic-quality.md).
const (
	Valid Verdict = iota
	Bot
	HiddenFrame
	AutoRedirect
	Popunder
	ContextAd
	Duplicate
	RateLimited
	UnknownPartner
	BlockedPartner
	SelfReferral
	// UnconfirmedPartner: the partner is registered and not blocked, but has not
	// confirmed their email address (program rule 1). New verdicts are appended, so
	// stored values keep their meaning.
	UnconfirmedPartner
	// Datacenter: the client address belongs to a data centre's network (a cloud, hosting
	// or VPS provider, a VPN's or proxy's hosting; program rule 6).
	Datacenter
	numVerdicts
)

var verdictNames = [numVerdicts]string{
	Valid:              "valid",
	Bot:                "bot",
	HiddenFrame:        "hidden_frame",
	AutoRedirect:       "auto_redirect",
	Popunder:           "popunder",
	ContextAd:          "context_ad",
	Duplicate:          "duplicate",
	RateLimited:        "rate_limited",
	UnknownPartner:     "unknown_partner",
	BlockedPartner:     "blocked_partner",
	SelfReferral:       "self_referral",
	UnconfirmedPartner: "unconfirmed_partner",
	Datacenter:         "datacenter",
}

// String returns the verdict's stored name.
func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Verdicts returns every verdict in declaration order.
func Verdicts() []Verdict {
	out := make([]Verdict, numVerdicts)
	for i := range out {
		out[i] = Verdict(i)
	}
	return out
}

// ParseVerdict returns the verdict named s.
func ParseVerdict(s string) (Verdict, bool) {
	for i, n := range verdictNames {
		if n == s {
			return Verdict(i), true
		}
	}
	return 0, false
}
