package attribution

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
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

// ClickHouseRevocations writes revocations to {db}.click_revocations.
type ClickHouseRevocations struct {
	Conn driver.Conn
	DB   string
}

// Name implements Sink.
func (s *ClickHouseRevocations) Name() string { return "clickhouse" }

// Write implements Sink.
func (s *ClickHouseRevocations) Write(ctx context.Context, rs []*Revocation) error {
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
func (s *KafkaRevocations) Write(ctx context.Context, rs []*Revocation) error {
	msgs := make([]kafka.Message, len(rs))
	for i, r := range rs {
		msgs[i] = kafka.Message{Key: []byte(r.PartnerID), Value: r.AppendEnvelope(nil), Time: r.Time}
	}
	if err := s.W.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d revocations: %w", len(rs), err)
	}
	return nil
}
