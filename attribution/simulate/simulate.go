package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// Core plays the marketplace core: it encodes the core's facts as envelopes stamped
// with whatever event time it is given and produces them to the marketplace topics. Tests
// drive it directly; Simulate generates a whole marketplace with it. Events are buffered
// until Flush. Keys follow the contract's recommendation: partners by partner id, users
// by user id, kworks by seller id, orders and refunds by buyer id.
type Core struct {
	Keys   *signing.Keyring
	topics event.LedgerTopics

	Mu      sync.Mutex
	writers map[string]*kafka.Writer
	buf     map[string][]kafka.Message
	brokers []string
	sent    int
	// partnerIDs are the partners this core registered (tests delete them afterwards).
	PartnerIDs map[string]bool
	// last is the last event queued, for Redeliver.
	Last      kafka.Message
	LastTopic string
}

// NewCore returns a core producing to brokers; keys signs the rfe_ref cookies its
// clicks hand out, as the tracker would (the ledger must verify them with the same keys).
func NewCore(brokers []string, keys *signing.Keyring, topics event.LedgerTopics) *Core {
	topics.Defaults()
	return &Core{Keys: keys, topics: topics, brokers: brokers, writers: map[string]*kafka.Writer{},
		buf: map[string][]kafka.Message{}, PartnerIDs: map[string]bool{}}
}

func (c *Core) add(topic, key, typ string, at time.Time, payload any) {
	p, err := json.Marshal(payload)
	if err != nil {
		panic(err) // payloads are our own structs
	}
	v, err := json.Marshal(event.Envelope{ID: event.NewEventID(at), Type: typ, Version: 1, OccurredAt: at.UTC(), Payload: p})
	if err != nil {
		panic(err)
	}
	c.Raw(topic, []byte(key), v)
}

// Raw queues arbitrary bytes on topic (tests use it for invalid events).
func (c *Core) Raw(topic string, key, value []byte) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.Last, c.LastTopic = kafka.Message{Key: key, Value: value}, topic
	c.buf[topic] = append(c.buf[topic], c.Last)
}

// Partner queues partner.upserted.
func (c *Core) Partner(id, userID, status string, at time.Time) {
	c.PartnerWith(event.PartnerUpserted{PartnerID: id, UserID: userID, Status: status, EmailConfirmed: true}, at)
}

// PartnerWith queues partner.upserted with every field as given (an unconfirmed email,
// for one).
func (c *Core) PartnerWith(p event.PartnerUpserted, at time.Time) {
	c.Mu.Lock()
	c.PartnerIDs[p.PartnerID] = true
	c.Mu.Unlock()
	c.add(c.topics.Partners, p.PartnerID, event.TypePartnerUpserted, at, p)
}

// Click returns the rfe_ref cookie value the tracker sets for a valid click on partner's
// link at t.
func (c *Core) Click(partnerID string, at time.Time) string {
	id := event.NewClickID(at)
	return string(refcookie.Append(nil, c.Keys, []byte(partnerID), id[:], at, []byte("link")))
}

// Register queues user.registered; cookie is a Click value or "".
func (c *Core) Register(userID, cookie, visitorID string, at time.Time) {
	c.add(c.topics.Users, userID, event.TypeUserRegistered, at, event.UserRegistered{UserID: userID, Attribution: cookie, VisitorID: visitorID})
}

// Kwork queues kwork.upserted with status (active means it passed moderation).
func (c *Core) Kwork(kworkID, sellerID, status string, at time.Time) {
	c.add(c.topics.Kworks, sellerID, event.TypeKworkUpserted, at, event.KworkUpserted{KworkID: kworkID, SellerID: sellerID,
		Title: "kwork " + kworkID, Category: "design", Price: 50000, Currency: "RUB", Status: status})
}

// Moderate queues kwork.moderated.
func (c *Core) Moderate(kworkID, sellerID string, approved bool, at time.Time) {
	c.add(c.topics.Kworks, sellerID, event.TypeKworkModerated, at, event.KworkModerated{KworkID: kworkID, SellerID: sellerID, Approved: approved})
}

// Order queues order.completed.
func (c *Core) Order(orderID, buyerID, sellerID string, main, bonus int64, currency string, at time.Time) {
	c.OrderWith(event.OrderCompleted{OrderID: orderID, BuyerID: buyerID, SellerID: sellerID,
		AmountMain: main, AmountBonus: bonus, Currency: currency}, at)
}

// OrderWith queues order.completed with every field as given (paid_at, for one).
func (c *Core) OrderWith(o event.OrderCompleted, at time.Time) {
	c.add(c.topics.Orders, o.BuyerID, event.TypeOrderCompleted, at, o)
}

// Refund queues order.refunded; buyerID only chooses the partition key.
func (c *Core) Refund(orderID, buyerID string, at time.Time) {
	c.add(c.topics.Orders, buyerID, event.TypeOrderRefunded, at, event.OrderRefunded{OrderID: orderID, Reason: "refund"})
}

// RefundPart queues order.refunded for part of the main-balance payment (amountMain
// minor units).
func (c *Core) RefundPart(orderID, buyerID string, amountMain int64, at time.Time) {
	c.add(c.topics.Orders, buyerID, event.TypeOrderRefunded, at, event.OrderRefunded{OrderID: orderID, AmountMain: &amountMain, Reason: "partial"})
}

// Redeliver queues the last queued event again, byte for byte: a redelivery, as Kafka
// gives a consumer after a crash.
func (c *Core) Redeliver() {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if c.Last.Value != nil {
		c.buf[c.LastTopic] = append(c.buf[c.LastTopic], c.Last)
	}
}

// Pending returns how many events are queued.
func (c *Core) Pending() int {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	n := 0
	for _, b := range c.buf {
		n += len(b)
	}
	return n
}

// Sent returns how many events Flush has produced so far.
func (c *Core) Sent() int {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.sent
}

// Flush produces every queued event, topic by topic in the order queued, and waits for
// the brokers' acknowledgements.
func (c *Core) Flush(ctx context.Context) error {
	c.Mu.Lock()
	buf := c.buf
	c.buf = map[string][]kafka.Message{}
	topics := make([]string, 0, len(buf))
	for t := range buf {
		topics = append(topics, t)
		if c.writers[t] == nil {
			w := sink.NewWriter(c.brokers, t)
			w.BatchTimeout = time.Millisecond
			w.AllowAutoTopicCreation = true
			c.writers[t] = w
		}
	}
	c.Mu.Unlock()
	sort.Strings(topics)
	for _, t := range topics {
		msgs := buf[t]
		for len(msgs) > 0 {
			n := min(len(msgs), 5000)
			if err := c.writers[t].WriteMessages(ctx, msgs[:n]...); err != nil {
				return fmt.Errorf("simulated core cannot produce to %s: %w", t, err)
			}
			msgs = msgs[n:]
			c.Mu.Lock()
			c.sent += n
			c.Mu.Unlock()
		}
	}
	return nil
}

// Close closes the producers.
func (c *Core) Close() error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	var errs []error
	for _, w := range c.writers {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}
