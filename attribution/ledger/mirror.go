package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

// conversionsMirror copies the ledger's output events into ClickHouse {db}.conversions
// for the partner dashboard. It consumes the output topics with its own group rather
// than writing beside the producer: an outage of ClickHouse then only delays the mirror
// (Kafka is the spool), and the offsets move only after a batch insert succeeded.
// Rows carry the event id and the table is a ReplacingMergeTree, so a batch inserted
// twice collapses on merge.
type conversionsMirror struct {
	ch  driver.Conn
	db  string
	log *slog.Logger
}

const conversionColumns = "event_id, ts, type, partner_id, user_id, click_id, order_id, role, idempotency_key, base_amount, rate_bp, amount, currency"

// handle inserts a batch as its finishing step (it has no effects to prepare).
func (m *conversionsMirror) handle(_ context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
	return func(ctx context.Context) error { return m.insert(ctx, msgs) }, nil
}

// insert writes one batch. A reversal is stored with negative amounts, so SUM(amount)
// over a partner's rows is what they net.
func (m *conversionsMirror) insert(ctx context.Context, msgs []kafka.Message) error {
	b, err := m.ch.PrepareBatch(ctx, "INSERT INTO "+m.db+".conversions ("+conversionColumns+")")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d conversions: %w", len(msgs), err)
	}
	n := 0
	for i := range msgs {
		var env event.Envelope
		if err := json.Unmarshal(msgs[i].Value, &env); err != nil || env.Validate() != nil {
			m.log.Warn("conversions mirror skips an undecodable event", "topic", msgs[i].Topic, "offset", msgs[i].Offset)
			continue
		}
		var err error
		switch env.Type {
		case event.TypeAttributed, event.TypeActivated, event.TypeDetached, event.TypeExpired:
			var p event.AttributionPayload
			if err = json.Unmarshal(env.Payload, &p); err == nil {
				err = b.Append(env.ID, env.OccurredAt.UTC(), env.Type, p.PartnerID, p.UserID, p.ClickID, "", "", "",
					int64(0), uint32(0), int64(0), "")
			}
		case event.TypeCommissionAccrued, event.TypeCommissionReversed:
			var p event.CommissionPayload
			if err = json.Unmarshal(env.Payload, &p); err == nil {
				sign := int64(1)
				if env.Type == event.TypeCommissionReversed {
					sign = -1
				}
				err = b.Append(env.ID, env.OccurredAt.UTC(), env.Type, p.PartnerID, p.ReferralUserID, "", p.OrderID, p.Role,
					p.Key, sign*p.BaseAmount, p.RateBP, sign*p.Amount, p.Currency)
			}
		default:
			continue
		}
		if err != nil {
			_ = b.Abort()
			return fmt.Errorf("cannot append conversion %s: %w", env.ID, err)
		}
		n++
	}
	if n == 0 {
		_ = b.Abort()
		return nil
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d conversions to ClickHouse: %w", n, err)
	}
	ledgerMirrored.Add(float64(n))
	return nil
}
