package kafkax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadAll returns every message of topic, from the first offset of each partition to
// the last offset at the time of the call. Tests and tools use it to check what was
// produced; it uses no consumer group and commits nothing.
func ReadAll(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot read partitions of %s: %w", topic, err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			return nil, err
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read offsets of %s/%d: %w", topic, p.ID, err)
		}
		if last <= first {
			continue
		}
		// A short MaxWait: kafka-go's default (10 s) holds every fetch that finds less
		// than MinBytes, which made reading a few partitions take half a minute.
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID,
			MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond, ReadBatchTimeout: time.Second})
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return nil, err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("reading %s/%d at offset %d of %d: %w", topic, p.ID, r.Offset(), last, err)
			}
			out = append(out, m)
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	if ctx.Err() != nil {
		return out, errors.Join(ctx.Err())
	}
	return out, nil
}
