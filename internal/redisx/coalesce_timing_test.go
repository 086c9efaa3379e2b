package redisx

import (
	"sync"
	"testing"
)

// BenchmarkWake is what it costs to wake the callers waiting on a batch: one leader
// wakes 16 parked goroutines per round and waits until each has its answer, by a send on
// each one's channel (the Coalescer's way) or by closing one channel per round
// (docs/performance.md, "Redis client path"). ns/op is per round of 16.
//
//	go test ./internal/redisx/ -run XXX -bench Wake -benchtime 50000x
func BenchmarkWake(b *testing.B) {
	const waiters = 16
	b.Run("chan-each", func(b *testing.B) {
		chans := make([]chan bool, waiters)
		for i := range chans {
			chans[i] = make(chan bool, 1)
		}
		var ack sync.WaitGroup
		for i := range chans {
			go func() {
				for range b.N {
					<-chans[i]
					ack.Done()
				}
			}()
		}
		b.ResetTimer()
		for range b.N {
			ack.Add(waiters)
			for _, c := range chans {
				c <- false
			}
			ack.Wait()
		}
	})
	b.Run("close-once", func(b *testing.B) {
		rounds := make([]chan struct{}, b.N)
		for i := range rounds {
			rounds[i] = make(chan struct{})
		}
		var ack sync.WaitGroup
		for range waiters {
			go func() {
				for r := range b.N {
					<-rounds[r]
					ack.Done()
				}
			}()
		}
		b.ResetTimer()
		for r := range b.N {
			ack.Add(waiters)
			close(rounds[r])
			ack.Wait()
		}
	})
}
