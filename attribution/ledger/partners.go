package ledger

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partners"
)

// partners stores partner facts: the registry the tracker reads (latest by event time)
// and the standing history (active, blocked, unconfirmed) the ledger evaluates rules
// against.
func (l *ledger) partners(ctx context.Context, evs []*inEvent) error {
	pipe := l.rdb.Pipeline()
	for _, ev := range evs {
		p := ev.payload.(*event.PartnerUpserted)
		err := l.reg.Upsert(ctx, partners.Partner{ID: p.PartnerID, UserID: p.UserID, Status: partners.Status(p.Status),
			EmailConfirmed: p.EmailConfirmed, UpdatedAt: ev.at})
		if err != nil {
			return err
		}
		key := l.k.partnerLog(p.PartnerID)
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(ev.atMS), Member: itoa64(ev.atMS) + ":" + partnerStanding(p.Status, p.EmailConfirmed)})
		pipe.ZRemRangeByRank(ctx, key, 0, -65) // the newest 64 changes are plenty
	}
	return l.exec(ctx, pipe)
}
