package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/internal/admin"
)

// The operators' audit trail: internal/admin records every admin call that is not a
// read as an admin.AuditEntry; AuditLog queues it without blocking the admin answer
// and writes it to ClickHouse ({db}.admin_audit) and Kafka (refedge.audit) through a
// spooled pipeline, like the edge's other events.

// TypeAdminAudited is the envelope type of an audit entry on refedge.audit.
const TypeAdminAudited = "admin.audited"

// AuditLog is the admin listener's audit sink.
type AuditLog struct {
	P *pipeline.Pipeline[*admin.AuditEntry]
	// Queue is the pipeline's queue size: Record drops (and reports) an entry rather
	// than wait when that many are pending.
	Queue int
}

// Record implements admin.AuditSink: it never waits.
func (a *AuditLog) Record(e *admin.AuditEntry) bool {
	if a.P.Len() >= int64(a.Queue) {
		return false
	}
	return a.P.Enqueue(e) == nil
}

// AuditPipelineConfig is the audit pipeline's configuration: small batches written
// within a quarter of a second, so the console shows a change at once.
func AuditPipelineConfig() pipeline.Config {
	return pipeline.Config{Name: "audit", QueueSize: 4096, BatchSize: 500, FlushInterval: 250 * time.Millisecond}
}

// auditEnvelope appends e as an admin.audited envelope.
func auditEnvelope(dst []byte, e *admin.AuditEntry) []byte {
	payload, err := json.Marshal(e)
	if err != nil {
		payload = []byte("{}") // unreachable: the entry is strings and numbers
	}
	b, _ := json.Marshal(event.Envelope{ID: e.ID, Type: TypeAdminAudited, Version: 1, OccurredAt: e.Time.UTC(), Payload: payload})
	return append(dst, b...)
}

// AuditCodec spools audit entries as their envelopes.
var AuditCodec = event.Codec[*admin.AuditEntry]{
	Encode: auditEnvelope,
	Decode: func(b []byte) (*admin.AuditEntry, error) {
		var env event.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, err
		}
		if env.Type != TypeAdminAudited {
			return nil, errors.New("not an admin.audited event")
		}
		var e admin.AuditEntry
		if err := json.Unmarshal(env.Payload, &e); err != nil {
			return nil, err
		}
		return &e, nil
	},
}

// ClickHouseAudit writes audit entries to {db}.admin_audit.
type ClickHouseAudit struct {
	Conn driver.Conn
	DB   string
}

// Name implements Sink.
func (s *ClickHouseAudit) Name() string { return "clickhouse" }

// Write implements Sink.
func (s *ClickHouseAudit) Write(ctx context.Context, es []*admin.AuditEntry) error {
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.DB+".admin_audit (id, ts, operator, role, via, method, route, path, target, partner_id, status, state_before, state_after, client)")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d audit entries: %w", len(es), err)
	}
	for _, e := range es {
		if err := b.Append(e.ID, e.Time.UTC(), e.Operator, e.Role, e.Via, e.Method, e.Route, e.Path, e.Target, e.Partner,
			uint16(e.Status), e.Before, e.After, e.Client); err != nil {
			_ = b.Abort()
			return err
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d audit entries to ClickHouse: %w", len(es), err)
	}
	return nil
}

// KafkaAudit produces audit entries to refedge.audit, keyed by partner (the target
// when the call concerns no partner), so one partner's entries stay in order.
type KafkaAudit struct {
	W *kafka.Writer
}

// Name implements Sink.
func (s *KafkaAudit) Name() string { return "kafka" }

// Write implements Sink.
func (s *KafkaAudit) Write(ctx context.Context, es []*admin.AuditEntry) error {
	msgs := make([]kafka.Message, len(es))
	for i, e := range es {
		key := e.Partner
		if key == "" {
			key = e.Target
		}
		msgs[i] = kafka.Message{Key: []byte(key), Value: auditEnvelope(nil, e), Time: e.Time}
	}
	if err := s.W.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d audit entries: %w", len(es), err)
	}
	return nil
}

// AuditRow is one entry as the console reads it back.
type AuditRow struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Role     string    `json:"role"`
	Method   string    `json:"method"`
	Route    string    `json:"route"`
	Target   string    `json:"target"`
	Partner  string    `json:"partner_id"`
	Status   int       `json:"status"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
}

// ReadAudit returns the newest entries (at most limit), of one partner when partner is
// not empty.
func ReadAudit(ctx context.Context, conn driver.Conn, db, partner string, limit int) ([]AuditRow, error) {
	q := "SELECT id, ts, operator, role, method, route, target, partner_id, status, state_before, state_after FROM " + db + ".admin_audit"
	args := []any{}
	if partner != "" {
		q += " WHERE partner_id = ?"
		args = append(args, partner)
	}
	q += fmt.Sprintf(" ORDER BY ts DESC, id DESC LIMIT %d", limit)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var r AuditRow
		var status uint16
		if err := rows.Scan(&r.ID, &r.Time, &r.Operator, &r.Role, &r.Method, &r.Route, &r.Target, &r.Partner, &status, &r.Before, &r.After); err != nil {
			return nil, err
		}
		r.Status = int(status)
		out = append(out, r)
	}
	return out, rows.Err()
}
