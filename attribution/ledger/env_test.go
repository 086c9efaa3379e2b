package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

// The ledger's tests talk to a real Redis (testenv: REFEDGE_TEST_REDIS_URL, as
// deploy/dev/services.sh prints it) and to the embedded Kafka broker over TCP. They
// share Redis database 0 with other packages' tests: every id, key prefix and consumer
// group is unique per test, and nothing is ever flushed.

// testRedis returns a client of the test Redis (database 0, shared: keys are unique per
// test), closed at cleanup.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 32
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// testBroker starts an embedded broker for the test.
func testBroker(t testing.TB) *kafkax.Embedded {
	t.Helper()
	b, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: event.AllTopics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func uniq(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

var testKeys = signing.MustKeyring("ledger-test-secret-0123456789")

// testLog sends warnings (everything with REFEDGE_TEST_LOG=debug) to the test's output.
func testLog(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("REFEDGE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ledgerEnv is one test's broker, Redis, simulated core and ledger configuration.
type ledgerEnv struct {
	t        testing.TB
	ctx      context.Context
	brokers  []string
	rdb      *redis.Client
	core     *simulate.Core
	cfg      Config
	prefixes []string
}

// keyPrefix returns a fresh ledger key prefix whose keys are deleted after the test.
func (e *ledgerEnv) keyPrefix() string {
	p := testenv.KeyPrefix(e.t)
	e.prefixes = append(e.prefixes, p)
	return p
}

// cleanup deletes the test's keys: everything under its prefixes and the partners its
// cores registered (never a FLUSHDB: other tests share the database).
func (e *ledgerEnv) cleanup(cores ...*simulate.Core) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range e.prefixes {
		iter := e.rdb.Scan(ctx, 0, p+"*", 2000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 2000 {
				e.rdb.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			e.rdb.Unlink(ctx, batch...)
		}
	}
	var keys []string
	for _, c := range cores {
		for id := range c.PartnerIDs {
			keys = append(keys, partners.Key(id))
		}
	}
	if len(keys) > 0 {
		e.rdb.Unlink(ctx, keys...)
	}
}

func newLedgerEnv(t testing.TB) *ledgerEnv {
	rdb := testRedis(t)
	b := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	e := &ledgerEnv{t: t, ctx: ctx, brokers: b.Addrs(), rdb: rdb}
	e.core = simulate.NewCore(e.brokers, testKeys, event.LedgerTopics{})
	t.Cleanup(func() {
		e.core.Close()
		e.cleanup(e.core)
	})
	e.cfg = Config{Group: uniq("ledger-test-"), KeyPrefix: e.keyPrefix(), SweepInterval: -1,
		MaxBatch: 200, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, ProduceLease: 5 * time.Second}
	return e
}

// start runs a ledger service with cfg until the test ends (or Stop).
func (e *ledgerEnv) start(cfg Config) *Service { return e.startMirrored(cfg, nil, "") }

// startMirrored runs a ledger service that mirrors its output to ClickHouse.
func (e *ledgerEnv) startMirrored(cfg Config, ch driver.Conn, db string) *Service {
	e.t.Helper()
	s, err := New(cfg, e.rdb, ch, db, e.brokers, testKeys, testLog(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			e.t.Errorf("stop ledger: %v", err)
		}
	})
	return s
}

func (e *ledgerEnv) flush() {
	e.t.Helper()
	if err := e.core.Flush(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// createTopics creates topics (4 partitions each) on the test broker: the ledger, like
// production, never creates topics itself.
func (e *ledgerEnv) createTopics(t event.LedgerTopics) {
	e.t.Helper()
	var cfgs []kafka.TopicConfig
	for _, name := range []string{t.Partners, t.Users, t.Kworks, t.Orders, t.Attributions, t.Commissions, t.DeadLetter} {
		if name != "" && !slices.Contains(event.AllTopics, name) {
			cfgs = append(cfgs, kafka.TopicConfig{Topic: name, NumPartitions: 4, ReplicationFactor: 1})
		}
	}
	cl := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 5 * time.Second}
	res, err := cl.CreateTopics(e.ctx, &kafka.CreateTopicsRequest{Topics: cfgs})
	if err != nil {
		e.t.Fatal(err)
	}
	for name, err := range res.Errors {
		if err != nil {
			e.t.Fatalf("create topic %s: %v", name, err)
		}
	}
}

// waitCaughtUp polls until group has committed every message of the input topics.
func (e *ledgerEnv) waitCaughtUp(cfg Config) { e.waitCaughtUpWithin(cfg, time.Minute) }

func (e *ledgerEnv) waitCaughtUpWithin(cfg Config, within time.Duration) {
	e.t.Helper()
	cfg.defaults()
	topics := map[string]string{kindPartners: cfg.Topics.Partners, kindUsers: cfg.Topics.Users,
		kindKworks: cfg.Topics.Kworks, kindOrders: cfg.Topics.Orders}
	deadline := time.Now().Add(within)
	cl := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 5 * time.Second}
	for kind, topic := range topics {
		for {
			behind, err := groupBehind(e.ctx, cl, e.brokers, cfg.Group+"."+kind, topic)
			if err == nil && behind == 0 {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("ledger group %s did not catch up on %s: %d behind, err %v", cfg.Group, topic, behind, err)
			}
			pollPause()
		}
	}
}

// pollPause is the interval between two polls of an asynchronous condition (each poll
// has a deadline).
func pollPause() { <-time.After(20 * time.Millisecond) }

// groupBehind returns how many messages of topic group has not committed.
func groupBehind(ctx context.Context, cl *kafka.Client, brokers []string, group, topic string) (int64, error) {
	ends, err := topicEnds(ctx, brokers, topic)
	if err != nil {
		return -1, err
	}
	var parts []int
	for p, e := range ends {
		if e[1] > 0 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return -1, err
	}
	committed := map[int]int64{}
	for _, p := range res.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	var behind int64
	for _, p := range parts {
		c := max(committed[p], 0)
		behind += ends[p][1] - c
	}
	return behind, nil
}

// outEvent is an output event as a test reads it back.
type outEvent struct {
	event.Envelope
	Attr *event.AttributionPayload
	Comm *event.CommissionPayload
	Raw  []byte
}

// readOutputs reads every event of topic, partition by partition in offset order, and
// checks each against its schema.
func (e *ledgerEnv) readOutputs(topic string, sch *EventSchemas) []outEvent {
	e.t.Helper()
	var out []outEvent
	err := readTopic(e.ctx, e.brokers, topic, func(m kafka.Message) error {
		if _, err := sch.Validate(m.Value); err != nil {
			e.t.Errorf("%s produced an event that does not conform to its schema: %v\n%s", topic, err, m.Value)
		}
		var o outEvent
		o.Raw = m.Value
		if err := json.Unmarshal(m.Value, &o.Envelope); err != nil {
			return err
		}
		var err error
		if strings.HasPrefix(o.Type, "commission.") {
			o.Comm = new(event.CommissionPayload)
			err = json.Unmarshal(o.Payload, o.Comm)
		} else {
			o.Attr = new(event.AttributionPayload)
			err = json.Unmarshal(o.Payload, o.Attr)
		}
		out = append(out, o)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// seedReferrals registers partnersN partners, buyersN referred buyers and sellersN
// referred sellers, each seller active through a moderated kwork, and runs a ledger over
// them until it has caught up, then stops it. id makes the run's unique ids; partner p
// is id("p%d", p), buyers id("b%d", i), sellers id("s%d", i) and their kworks id("k%d", i).
func (e *ledgerEnv) seedReferrals(tb testing.TB, cfg Config, id func(string, ...any) string, partnersN, buyersN, sellersN int) {
	tb.Helper()
	for p := 0; p < partnersN; p++ {
		e.core.Partner(id("p%d", p), id("pu%d", p), "active", goldenT0.Add(-day))
	}
	e.flush()
	svc := e.start(cfg)
	e.waitCaughtUp(cfg)
	for u := 0; u < buyersN; u++ {
		e.core.Register(id("b%d", u), e.core.Click(id("p%d", u%partnersN), goldenT0), "", goldenT0)
	}
	for u := 0; u < sellersN; u++ {
		e.core.Register(id("s%d", u), e.core.Click(id("p%d", u%partnersN), goldenT0), "", goldenT0)
		e.core.Moderate(id("k%d", u), id("s%d", u), true, goldenT0.Add(time.Hour))
	}
	e.flush()
	e.waitCaughtUp(cfg)
	if err := svc.Stop(e.ctx); err != nil {
		tb.Fatal(err)
	}
}
