package event

// Topics refedge produces to and consumes from (deploy/kafka/topics.json, docs/commissions.md "Event contract").
const (
	TopicClicks       = "referral.clicks"
	TopicAttributions = "referral.attributions"
	TopicCommissions  = "referral.commissions"
	TopicDeadLetter   = "refedge.deadletter"
	TopicAudit        = "refedge.audit"

	TopicPartners = "marketplace.partners"
	TopicUsers    = "marketplace.users"
	TopicKworks   = "marketplace.kworks"
	TopicOrders   = "marketplace.orders"
)

// AllTopics lists every topic refedge uses, for topic creation in dev and tests.
var AllTopics = []string{TopicClicks, TopicAttributions, TopicCommissions, TopicDeadLetter, TopicAudit,
	TopicPartners, TopicUsers, TopicKworks, TopicOrders}

// LedgerTopics names the topics the ledger reads and writes. Empty fields take the
// standard names (deploy/kafka/topics.json); tests and staging may point them elsewhere.
type LedgerTopics struct {
	Partners, Users, Kworks, Orders       string
	Attributions, Commissions, DeadLetter string
}

func (t *LedgerTopics) Defaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&t.Partners, TopicPartners)
	set(&t.Users, TopicUsers)
	set(&t.Kworks, TopicKworks)
	set(&t.Orders, TopicOrders)
	set(&t.Attributions, TopicAttributions)
	set(&t.Commissions, TopicCommissions)
	set(&t.DeadLetter, TopicDeadLetter)
}
