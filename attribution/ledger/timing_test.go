package ledger

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLedgerOrders measures sustained order throughput end to end: b.N completed
// orders, every one with a referred buyer and a referred seller (two commission lines,
// the most expensive case), wait in marketplace.orders on the embedded broker; then a
// ledger starts and the clock runs until its consumer group has committed them all —
// JSON Schema validation, Redis reads and scripts, producing the commission events with
// acks from the broker, clearing the outbox, committing offsets. Run it long enough to be
// sustained, e.g.:
//
//	go test -run '^$' -bench LedgerOrders -benchtime 200000x ./attribution/ledger/
//
// The target is 100k orders/minute (the ledger's throughput target); see the orders/min metric.
func BenchmarkLedgerOrders(b *testing.B) {
	e := newLedgerEnv(b)
	cfg := e.cfg
	cfg.MaxBatch = 1000
	run := uniq("bench")
	id := func(f string, a ...any) string { return run + "-" + fmt.Sprintf(f, a...) }
	const partnersN, buyersN, sellersN = 20, 5000, 500

	e.seedReferrals(b, cfg, id, partnersN, buyersN, sellersN)

	for o := 0; o < b.N; o++ {
		at := goldenT0.Add(day + time.Duration(o)*time.Second)
		e.core.Order(id("o%d", o), id("b%d", o%buyersN), id("s%d", o%sellersN), int64(1000+o%100000), int64(o%3*100), "USD", at)
		if e.core.Pending() >= 50000 {
			e.flush()
		}
	}
	e.flush()

	b.ResetTimer()
	start := time.Now()
	s := e.start(cfg)
	e.waitCaughtUpWithin(cfg, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	// A rebalance between the two orders readers may deliver a batch twice (its second
	// pass changes nothing), so the count may exceed b.N.
	if got := s.committed(kindOrders); got < int64(b.N) {
		b.Fatalf("committed %d orders, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Minutes(), "orders/min")
	b.ReportMetric(float64(2*b.N)/elapsed.Minutes(), "commissions/min")
}
