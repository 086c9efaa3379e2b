package attribution

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// each runs q with the request deadline and calls fn for every row.
func (a *Analytics) each(ctx context.Context, q anSQL, fn func(scan func(...any) error) error) error {
	qctx, cancel := a.queryCtx(ctx)
	defer cancel()
	rows, err := a.conn.Query(qctx, q.String(), q.args...)
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

// anParallel runs fns at once and returns the first error; the others are cancelled.
func anParallel(ctx context.Context, fns ...func(context.Context) error) error {
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
