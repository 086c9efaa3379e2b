package widget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/redisx"
)

// drawer sends the frames' SRANDMEMBER draws to Redis in shared pipelines
// (redisx.Coalescer): at low load a batch is one draw and nothing is delayed; under
// load many frames share a round trip, which saves Redis and this process a system
// call pair per frame.
type drawer struct {
	r      redis.UniversalClient
	co     redisx.Coalescer[*drawReq]
	closed atomic.Bool
}

type drawReq struct {
	key string
	n   int64
	res []string
	err error
	cmd *redis.StringSliceCmd
}

var drawReqPool = sync.Pool{New: func() any { return new(drawReq) }}

// newDrawer sends up to pipelines batches of at most max draws at once.
func newDrawer(r redis.UniversalClient, pipelines, max int) *drawer {
	d := &drawer{r: r}
	d.co = redisx.Coalescer[*drawReq]{Run: d.run, MaxBatch: max, MaxInFlight: pipelines}
	return d
}

// draw returns up to n distinct random members of set key.
func (d *drawer) draw(key string, n int) ([]string, error) {
	if d.closed.Load() {
		return nil, errDrawerClosed
	}
	req := drawReqPool.Get().(*drawReq)
	req.key, req.n = key, int64(n)
	d.co.Do(req)
	res, err := req.res, req.err
	*req = drawReq{}
	drawReqPool.Put(req)
	return res, err
}

func (d *drawer) run(batch []*drawReq) {
	ctx := context.Background() // the client's own timeouts bound the round trip
	if len(batch) == 1 {
		r := batch[0]
		r.res, r.err = d.r.SRandMemberN(ctx, r.key, r.n).Result()
		return
	}
	pipe := d.r.Pipeline()
	for _, r := range batch {
		r.cmd = pipe.SRandMemberN(ctx, r.key, r.n)
	}
	_, _ = pipe.Exec(ctx) // each draw reads its own command's error
	for _, r := range batch {
		r.res, r.err = r.cmd.Result()
	}
}

// close makes later draws fail; draws in flight finish.
func (d *drawer) close() { d.closed.Store(true) }

var errDrawerClosed = errors.New("widget service closed")
