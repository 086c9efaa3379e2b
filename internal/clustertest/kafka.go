package clustertest

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// TopicEnds returns the end offset of every partition of topic.
func TopicEnds(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s: %+v", topic, meta.Topics)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// GroupBehind returns how many messages of topic consumer group has not committed.
func GroupBehind(ctx context.Context, brokers []string, group, topic string) (int64, error) {
	ends, err := TopicEnds(ctx, brokers, topic)
	if err != nil {
		return -1, err
	}
	var parts []int
	for p, e := range ends {
		if e > 0 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
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
		behind += ends[p] - max(committed[p], 0)
	}
	return behind, nil
}

// ReadTopic returns every message of topic up to its end at the time of the call,
// reading each partition from its leader in batches (no consumer group).
func ReadTopic(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	ends, err := TopicEnds(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	var out []kafka.Message
	for p, end := range ends {
		if end == 0 {
			continue
		}
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			return nil, err
		}
		first, err := conn.ReadFirstOffset()
		if err == nil {
			_, err = conn.Seek(first, kafka.SeekAbsolute)
		}
		for off := first; err == nil && off < end; {
			if dl, ok := ctx.Deadline(); ok {
				_ = conn.SetReadDeadline(dl)
			}
			batch := conn.ReadBatch(1, 16<<20)
			for {
				m, rerr := batch.ReadMessage()
				if rerr != nil {
					break
				}
				out = append(out, m)
				off = m.Offset + 1
				if off >= end {
					break
				}
			}
			if cerr := batch.Close(); cerr != nil && off < end {
				err = cerr
			}
		}
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s/%d: %w", topic, p, err)
		}
	}
	return out, nil
}
