package analytics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// each runs q with the request deadline and calls fn for every row.
func (a *Analytics) each(ctx context.Context, q SQL, fn func(scan func(...any) error) error) error {
	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	return EachRow(qctx, a.Conn, q, fn)
}

// eachRow runs q on conn and calls fn for every row. The analytics and the review
// share it, each with its own deadline (QueryCtx).
func EachRow(ctx context.Context, conn driver.Conn, q SQL, fn func(scan func(...any) error) error) error {
	rows, err := conn.Query(ctx, q.String(), q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// QueryCtx bounds a query by timeout twice: the client's context, and ClickHouse's
// own max_execution_time (whole seconds, at least one), so an abandoned query does not
// run on in the server. settings adds to them.
func QueryCtx(ctx context.Context, timeout time.Duration, settings clickhouse.Settings) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	all := clickhouse.Settings{"max_execution_time": max(int(timeout.Round(time.Second)/time.Second), 1)}
	maps.Copy(all, settings)
	return clickhouse.Context(ctx, clickhouse.WithSettings(all)), cancel
}

// Parallel runs fns at once and returns the first error; the others are cancelled.
func Parallel(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("analytics query failed: %w", first)
	}
	return nil
}
