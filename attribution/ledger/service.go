package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
)

// Service runs the referral ledger: one consumer group per marketplace topic, the
// ClickHouse mirror of its output, and the sweeper that detaches and expires idle
// referrals. Construct it with New, then Start, then Stop.
type Service struct {
	cfg     Config
	l       *ledger
	rdb     redis.UniversalClient
	log     *slog.Logger
	writers *ledgerWriters

	consumers []*consumer // partners, users, kworks, orders (OrderReaders of them), conversions

	mu          sync.Mutex
	started     bool
	stopped     bool
	fetchCancel context.CancelFunc
	workCancel  context.CancelFunc
	bg          sync.WaitGroup // sweeper and lag monitor
}

// New validates cfg and prepares the service; nothing runs until Start.
// ch may be nil: then output events are not mirrored to ClickHouse (another process, or
// nobody, mirrors them). keys verifies rfe_ref cookies (REFEDGE_SECRET).
func New(cfg Config, rdb redis.UniversalClient, ch driver.Conn, chDB string,
	brokers []string, keys *signing.Keyring, log *slog.Logger) (*Service, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if rdb == nil {
		errs = append(errs, errors.New("REFEDGE_REDIS_URL: the ledger needs Redis"))
	}
	if len(brokers) == 0 {
		errs = append(errs, errors.New("REFEDGE_KAFKA_BROKERS: the ledger needs Kafka"))
	}
	if keys == nil {
		errs = append(errs, errors.New("REFEDGE_SECRET: the ledger verifies attribution cookies with it"))
	}
	if ch != nil && !sink.DBNamePattern.MatchString(chDB) {
		errs = append(errs, fmt.Errorf("REFEDGE_CLICKHOUSE_DSN: database %q is not a plain identifier", chDB))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	sch, err := LoadEventSchemas()
	if err != nil {
		return nil, fmt.Errorf("cannot load event schemas: %w", err)
	}
	s := &Service{cfg: cfg, rdb: rdb, log: log}
	s.writers = newLedgerWriters(brokers, cfg.Topics, cfg.Group)
	s.l = &ledger{
		rules: cfg.Rules, keyring: keys, rdb: rdb, k: storeKeys{cfg.KeyPrefix},
		reg: &partners.Registry{Redis: rdb}, schemas: sch, out: s.writers, log: log,
		pttl: strconv.Itoa(int(cfg.ParkTTL / time.Second)), lttl: strconv.Itoa(int(cfg.LineTTL / time.Second)),
		parkTTL: cfg.ParkTTL, lease: cfg.ProduceLease,
		keepDue: cfg.SweepInterval > 0,
	}
	cc := func(name string, topics ...string) consumerConfig {
		return consumerConfig{Name: name, Brokers: brokers, Group: cfg.Group + "." + name, Topics: topics,
			MaxBatch: cfg.MaxBatch, BatchWait: cfg.BatchWait, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, Log: log}
	}
	for _, k := range []struct {
		kind, topic string
		readers     int
	}{
		{kindPartners, cfg.Topics.Partners, 1}, {kindUsers, cfg.Topics.Users, 1},
		{kindKworks, cfg.Topics.Kworks, 1}, {kindOrders, cfg.Topics.Orders, cfg.OrderReaders},
	} {
		for range k.readers {
			s.consumers = append(s.consumers, newConsumer(cc(k.kind, k.topic), s.l.handler(k.kind)))
		}
	}
	if ch != nil {
		m := &conversionsMirror{ch: ch, db: chDB, log: log}
		c := cc("conversions", cfg.Topics.Attributions, cfg.Topics.Commissions)
		c.MaxBatch, c.BatchWait = cfg.MirrorBatch, cfg.MirrorWait
		s.consumers = append(s.consumers, newConsumer(c, m.handle))
	}
	return s, nil
}

// consumersOf returns the consumers of one kind ("orders", "conversions").
func (s *Service) consumersOf(kind string) []*consumer {
	var out []*consumer
	for _, c := range s.consumers {
		if c.cfg.Name == kind {
			out = append(out, c)
		}
	}
	return out
}

// Start loads the ledger scripts into Redis and starts every consumer. Cancelling ctx
// stops consuming as Stop does, but only Stop waits and closes.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("ledger service already started")
	}
	if err := loadScripts(ctx, s.rdb); err != nil {
		// Redis may be down while the edge starts: the consumers load the scripts
		// again when Redis answers NOSCRIPT, and retry their batches until then.
		s.log.Warn("cannot load the ledger scripts now; they load when Redis answers", "err", err)
	}
	s.started = true
	fetchCtx, fetchCancel := context.WithCancel(ctx)
	workCtx, workCancel := context.WithCancel(context.WithoutCancel(ctx))
	s.fetchCancel, s.workCancel = fetchCancel, workCancel
	for _, c := range s.consumers {
		c.start(fetchCtx, workCtx)
	}
	s.bg.Add(1)
	go s.monitor(fetchCtx)
	if s.cfg.SweepInterval > 0 {
		s.bg.Add(1)
		go s.sweepLoop(fetchCtx)
	}
	s.log.Info("referral ledger started", "group", s.cfg.Group, "consumers", len(s.consumers),
		"revenue_share", s.cfg.Rules.RevenueShareAt(time.Now()) != nil, "milestones", len(s.cfg.Rules.Milestones()))
	return nil
}

// Stop stops fetching, lets every consumer finish and commit the batch in hand, and
// closes readers and producers. If ctx ends first, batches in hand are abandoned
// uncommitted (they are delivered again on restart) and Stop returns ctx's error.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return s.writers.close()
	}
	s.fetchCancel()
	var errs []error
	for _, c := range s.consumers {
		select {
		case <-c.done:
		case <-ctx.Done():
			s.workCancel()
			<-c.done
			errs = append(errs, fmt.Errorf("%s consumer: %w", c.cfg.Name, ctx.Err()))
		}
	}
	s.workCancel()
	s.bg.Wait()
	for _, c := range s.consumers {
		if err := c.close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close the %s reader: %w", c.cfg.Name, err))
		}
	}
	if err := s.writers.close(); err != nil {
		errs = append(errs, fmt.Errorf("cannot close ledger producers: %w", err))
	}
	return errors.Join(errs...)
}

// Ready reports whether every consumer runs without a failing batch and Redis answers;
// register it as a readiness check.
func (s *Service) Ready(ctx context.Context) error {
	s.mu.Lock()
	running := s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		return errors.New("ledger is not running")
	}
	var errs []error
	for _, c := range s.consumers {
		if err := c.ready(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	return errors.Join(errs...)
}

// committed returns how many messages the consumer of kind committed (tests).
func (s *Service) committed(kind string) int64 {
	var n int64
	for _, c := range s.consumersOf(kind) {
		n += c.committed.Load()
	}
	return n
}

// monitor publishes consumer lag every few seconds.
func (s *Service) monitor(ctx context.Context) {
	defer s.bg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			lag := map[string]int64{}
			for _, c := range s.consumers {
				if c.r != nil {
					lag[c.cfg.Name] += c.r.Stats().Lag
				}
			}
			for name, n := range lag {
				consumerLag.WithLabelValues(name).Set(float64(n))
			}
		}
	}
}
