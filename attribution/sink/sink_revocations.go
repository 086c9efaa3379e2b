package sink

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

// ClickHouseRevocations writes revocations to {db}.click_revocations.
type ClickHouseRevocations struct {
	Conn driver.Conn
	DB   string
}

// Name implements Sink.
func (s *ClickHouseRevocations) Name() string { return "clickhouse" }

// Write implements Sink.
func (s *ClickHouseRevocations) Write(ctx context.Context, rs []*event.Revocation) error {
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.DB+".click_revocations (click_id, ts, click_ts, partner_id, verdict, reasons)")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d revocations: %w", len(rs), err)
	}
	for _, r := range rs {
		if err := b.Append(r.ClickID, r.Time.UTC(), r.ClickTime.UTC(), r.PartnerID, r.Verdict.String(), r.Reasons); err != nil {
			_ = b.Abort()
			return err
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d revocations to ClickHouse: %w", len(rs), err)
	}
	return nil
}

// KafkaRevocations produces revocations to referral.clicks, keyed by partner like the
// clicks they revoke.
type KafkaRevocations struct {
	W *kafka.Writer
}

// Name implements Sink.
func (s *KafkaRevocations) Name() string { return "kafka" }

// Write implements Sink.
func (s *KafkaRevocations) Write(ctx context.Context, rs []*event.Revocation) error {
	msgs := make([]kafka.Message, len(rs))
	for i, r := range rs {
		msgs[i] = kafka.Message{Key: []byte(r.PartnerID), Value: r.AppendEnvelope(nil), Time: r.Time}
	}
	if err := s.W.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d revocations: %w", len(rs), err)
	}
	return nil
}
