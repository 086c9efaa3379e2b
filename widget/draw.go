package widget

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// drawer sends the frames' SRANDMEMBER draws to Redis in pipelines: a worker takes one
// waiting draw, adds every other draw already waiting (up to max) without waiting for
// more, and sends them in one round trip. At low load a batch is one draw and nothing
// is delayed; under load many frames share a round trip, which saves Redis and this
// process a system call pair per frame (the same idea as rueidis' auto-pipelining).
type drawer struct {
	r    redis.UniversalClient
	in   chan *drawReq
	max  int
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // held for reading while a draw is being queued
	closed bool
}

type drawReq struct {
	key  string
	n    int64
	res  []string
	err  error
	done chan struct{}
}

var drawReqPool = sync.Pool{New: func() any { return &drawReq{done: make(chan struct{}, 1)} }}

func newDrawer(r redis.UniversalClient, workers, max int) *drawer {
	d := &drawer{r: r, in: make(chan *drawReq, workers*max), max: max, stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

// draw returns up to n distinct random members of set key.
func (d *drawer) draw(key string, n int) ([]string, error) {
	req := drawReqPool.Get().(*drawReq)
	req.key, req.n = key, int64(n)
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		drawReqPool.Put(req)
		return nil, errDrawerClosed
	}
	d.in <- req // the workers run until close, which waits for this RLock
	d.mu.RUnlock()
	<-req.done
	res, err := req.res, req.err
	*req = drawReq{done: req.done}
	drawReqPool.Put(req)
	return res, err
}

func (d *drawer) work() {
	defer d.wg.Done()
	batch := make([]*drawReq, 0, d.max)
	cmds := make([]*redis.StringSliceCmd, 0, d.max)
	for {
		var first *drawReq
		select {
		case first = <-d.in:
		case <-d.stop:
			// No draw is queued after stop: answer what is left.
			for {
				select {
				case r := <-d.in:
					r.err = errDrawerClosed
					r.done <- struct{}{}
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < d.max {
			select {
			case r := <-d.in:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		cmds = cmds[:0]
		ctx := context.Background() // the client's own timeouts bound the round trip
		if len(batch) == 1 {
			cmds = append(cmds, d.r.SRandMemberN(ctx, first.key, first.n))
		} else {
			_, _ = d.r.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, r := range batch {
					cmds = append(cmds, p.SRandMemberN(ctx, r.key, r.n))
				}
				return nil
			})
		}
		for i, r := range batch {
			r.res, r.err = cmds[i].Result()
			r.done <- struct{}{}
		}
		clear(batch)
	}
}

// close stops the workers once the draws in flight are answered; later draws fail.
func (d *drawer) close() {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.mu.Unlock()
	if !already {
		close(d.stop)
	}
	d.wg.Wait()
}

var errDrawerClosed = errors.New("widget service closed")
