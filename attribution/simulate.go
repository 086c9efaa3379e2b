package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// SimCore plays the marketplace core: it encodes the core's facts as envelopes stamped
// with whatever event time it is given and produces them to the marketplace topics. Tests
// drive it directly; Simulate generates a whole marketplace with it. Events are buffered
// until Flush. Keys follow the contract's recommendation: partners by partner id, users
// by user id, kworks by seller id, orders and refunds by buyer id.
type SimCore struct {
	keys   *signing.Keyring
	topics LedgerTopics

	mu      sync.Mutex
	writers map[string]*kafka.Writer
	buf     map[string][]kafka.Message
	brokers []string
	sent    int
	// partnerIDs are the partners this core registered (tests delete them afterwards).
	partnerIDs map[string]bool
	// last is the last event queued, for Redeliver.
	last      kafka.Message
	lastTopic string
}

// NewSimCore returns a core producing to brokers; keys signs the rfe_ref cookies its
// clicks hand out, as the tracker would (the ledger must verify them with the same keys).
func NewSimCore(brokers []string, keys *signing.Keyring, topics LedgerTopics) *SimCore {
	topics.defaults()
	return &SimCore{keys: keys, topics: topics, brokers: brokers, writers: map[string]*kafka.Writer{},
		buf: map[string][]kafka.Message{}, partnerIDs: map[string]bool{}}
}

func (c *SimCore) add(topic, key, typ string, at time.Time, payload any) {
	p, err := json.Marshal(payload)
	if err != nil {
		panic(err) // payloads are our own structs
	}
	v, err := json.Marshal(Envelope{ID: NewEventID(at), Type: typ, Version: 1, OccurredAt: at.UTC(), Payload: p})
	if err != nil {
		panic(err)
	}
	c.Raw(topic, []byte(key), v)
}

// Raw queues arbitrary bytes on topic (tests use it for invalid events).
func (c *SimCore) Raw(topic string, key, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last, c.lastTopic = kafka.Message{Key: key, Value: value}, topic
	c.buf[topic] = append(c.buf[topic], c.last)
}

// Partner queues partner.upserted.
func (c *SimCore) Partner(id, userID, status string, at time.Time) {
	c.PartnerWith(PartnerUpserted{PartnerID: id, UserID: userID, Status: status, EmailConfirmed: true}, at)
}

// PartnerWith queues partner.upserted with every field as given (an unconfirmed email,
// for one).
func (c *SimCore) PartnerWith(p PartnerUpserted, at time.Time) {
	c.mu.Lock()
	c.partnerIDs[p.PartnerID] = true
	c.mu.Unlock()
	c.add(c.topics.Partners, p.PartnerID, TypePartnerUpserted, at, p)
}

// Click returns the rfe_ref cookie value the tracker sets for a valid click on partner's
// link at t.
func (c *SimCore) Click(partnerID string, at time.Time) string {
	id := NewClickID(at)
	return string(refcookie.Append(nil, c.keys, []byte(partnerID), id[:], at, []byte("link")))
}

// Register queues user.registered; cookie is a Click value or "".
func (c *SimCore) Register(userID, cookie, visitorID string, at time.Time) {
	c.add(c.topics.Users, userID, TypeUserRegistered, at, UserRegistered{UserID: userID, Attribution: cookie, VisitorID: visitorID})
}

// Kwork queues kwork.upserted with status (active means it passed moderation).
func (c *SimCore) Kwork(kworkID, sellerID, status string, at time.Time) {
	c.add(c.topics.Kworks, sellerID, TypeKworkUpserted, at, KworkUpserted{KworkID: kworkID, SellerID: sellerID,
		Title: "kwork " + kworkID, Category: "design", Price: 50000, Currency: "RUB", Status: status})
}

// Moderate queues kwork.moderated.
func (c *SimCore) Moderate(kworkID, sellerID string, approved bool, at time.Time) {
	c.add(c.topics.Kworks, sellerID, TypeKworkModerated, at, KworkModerated{KworkID: kworkID, SellerID: sellerID, Approved: approved})
}

// Order queues order.completed.
func (c *SimCore) Order(orderID, buyerID, sellerID string, main, bonus int64, currency string, at time.Time) {
	c.OrderWith(OrderCompleted{OrderID: orderID, BuyerID: buyerID, SellerID: sellerID,
		AmountMain: main, AmountBonus: bonus, Currency: currency}, at)
}

// OrderWith queues order.completed with every field as given (paid_at, for one).
func (c *SimCore) OrderWith(o OrderCompleted, at time.Time) {
	c.add(c.topics.Orders, o.BuyerID, TypeOrderCompleted, at, o)
}

// Refund queues order.refunded; buyerID only chooses the partition key.
func (c *SimCore) Refund(orderID, buyerID string, at time.Time) {
	c.add(c.topics.Orders, buyerID, TypeOrderRefunded, at, OrderRefunded{OrderID: orderID, Reason: "refund"})
}

// RefundPart queues order.refunded for part of the main-balance payment (amountMain
// minor units).
func (c *SimCore) RefundPart(orderID, buyerID string, amountMain int64, at time.Time) {
	c.add(c.topics.Orders, buyerID, TypeOrderRefunded, at, OrderRefunded{OrderID: orderID, AmountMain: &amountMain, Reason: "partial"})
}

// Redeliver queues the last queued event again, byte for byte: a redelivery, as Kafka
// gives a consumer after a crash.
func (c *SimCore) Redeliver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Value != nil {
		c.buf[c.lastTopic] = append(c.buf[c.lastTopic], c.last)
	}
}

// Pending returns how many events are queued.
func (c *SimCore) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.buf {
		n += len(b)
	}
	return n
}

// Sent returns how many events Flush has produced so far.
func (c *SimCore) Sent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// Flush produces every queued event, topic by topic in the order queued, and waits for
// the brokers' acknowledgements.
func (c *SimCore) Flush(ctx context.Context) error {
	c.mu.Lock()
	buf := c.buf
	c.buf = map[string][]kafka.Message{}
	topics := make([]string, 0, len(buf))
	for t := range buf {
		topics = append(topics, t)
		if c.writers[t] == nil {
			w := NewWriter(c.brokers, t)
			w.BatchTimeout = time.Millisecond
			w.AllowAutoTopicCreation = true
			c.writers[t] = w
		}
	}
	c.mu.Unlock()
	sort.Strings(topics)
	for _, t := range topics {
		msgs := buf[t]
		for len(msgs) > 0 {
			n := min(len(msgs), 5000)
			if err := c.writers[t].WriteMessages(ctx, msgs[:n]...); err != nil {
				return fmt.Errorf("simulated core cannot produce to %s: %w", t, err)
			}
			msgs = msgs[n:]
			c.mu.Lock()
			c.sent += n
			c.mu.Unlock()
		}
	}
	return nil
}

// Close closes the producers.
func (c *SimCore) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, w := range c.writers {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}
