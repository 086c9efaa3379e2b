package sink

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/event"
)

// ClickHouseImpressions writes impression batches to {db}.impressions.
type ClickHouseImpressions struct {
	Conn driver.Conn
	DB   string
}

// Name implements Sink.
func (s *ClickHouseImpressions) Name() string { return "clickhouse" }

// ImpressionColumns are the impression columns every writer of {db}.impressions fills
// (0001_events.sql), the viewer's country and ASN last (0011_impression_network.sql).
const ImpressionColumns = "impression_id, ts, partner_id, source, creative, size, render_id, visitor_id, visitor_hash, referer_host, device, country, asn"

// Write implements Sink.
func (s *ClickHouseImpressions) Write(ctx context.Context, ims []*event.Impression) error {
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.DB+".impressions ("+ImpressionColumns+")")
	if err != nil {
		return fmt.Errorf("cannot prepare insert of %d impressions: %w", len(ims), err)
	}
	for _, im := range ims {
		if err := b.Append(string(im.ID[:]), im.Time.UTC(), im.Partner(), im.Source(), im.Creative(), im.Size(),
			im.RenderID(), im.VisitorID(), im.VisitorHash(), im.RefererHost(), im.Device(), im.Country(), im.ASN); err != nil {
			_ = b.Abort()
			return fmt.Errorf("cannot append impression: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot flush %d impressions to ClickHouse: %w", len(ims), err)
	}
	return nil
}
