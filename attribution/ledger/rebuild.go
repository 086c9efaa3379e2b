package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

// topicEnds returns, per partition of topic, the first and the next (end) offset.
func topicEnds(ctx context.Context, brokers []string, topic string) (map[int][2]int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("cannot read metadata of %s: %w", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	out := map[int][2]int64{}
	if len(reqs) == 0 {
		return out, nil
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("cannot list offsets of %s: %w", topic, err)
	}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("topic %s partition %d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = [2]int64{po.FirstOffset, po.LastOffset}
	}
	return out, nil
}

// readTopic calls fn with every message of topic from the start of each partition to
// the end it had when the call began, partition after partition.
func readTopic(ctx context.Context, brokers []string, topic string, fn func(kafka.Message) error) error {
	ends, err := topicEnds(ctx, brokers, topic)
	if err != nil {
		return err
	}
	for p, e := range ends {
		if err := scanPartition(ctx, brokers, topic, p, e[0], e[1], fn); err != nil {
			return err
		}
	}
	return nil
}

// scanPartition calls fn with the messages of one partition in [from, to).
func scanPartition(ctx context.Context, brokers []string, topic string, partition int, from, to int64, fn func(kafka.Message) error) error {
	if to <= from {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MinBytes: 1,
		MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("cannot read %s partition %d: %w", topic, partition, err)
		}
		if m.Offset >= to {
			return nil
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}

// Rebuild restores every referral record from the compacted referral.attributions
// topic (or any copy of it) into Redis under keyPrefix: partner, click, registration,
// deadlines, state and activation. Each attribution event carries the referral's whole
// state, so the newest per user — all compaction keeps — is enough; older ones that
// compaction has not removed yet are applied first and overwritten. It returns the
// number of events applied.
//
// What the topic does not hold is not rebuilt: commission lines (their keys still make
// a re-emitted commission a duplicate the core drops), milestone totals, lines waiting
// for an activation, and the registrations of users no partner referred (their orders
// are parked until ParkTTL and then dropped: they never earn anyway).
func Rebuild(ctx context.Context, brokers []string, topic string, rdb redis.UniversalClient, keyPrefix string) (int, error) {
	if keyPrefix == "" {
		keyPrefix = "rfe:"
	}
	k := storeKeys{keyPrefix}
	n := 0
	pipe := rdb.Pipeline()
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := readTopic(ctx, brokers, topic, func(m kafka.Message) error {
		var env event.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			return nil // a tombstone or a foreign event: nothing to restore
		}
		switch env.Type {
		case event.TypeAttributed, event.TypeActivated, event.TypeDetached, event.TypeExpired:
		default:
			return nil
		}
		var p event.AttributionPayload
		if err := json.Unmarshal(env.Payload, &p); err != nil || p.UserID == "" {
			return nil
		}
		rec := k.rec(p.UserID)
		fields := []any{"reg", "1", "p", p.PartnerID, "c", p.ClickID, "st", p.State,
			"r", itoa64(p.RegisteredAt.UnixMilli()), "ad", itoa64(p.ActivationDeadline.UnixMilli()),
			"xd", itoa64(p.ExpiresAt.UnixMilli())}
		if p.ActivatedAt != nil {
			fields = append(fields, "a", itoa64(p.ActivatedAt.UnixMilli()), "ac", p.Cause)
		}
		pipe.Persist(ctx, rec)
		pipe.HSet(ctx, rec, fields...)
		n++
		if pipe.Len() >= 1000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := flush(); err != nil {
		return n, fmt.Errorf("cannot write rebuilt referrals: %w", err)
	}
	return n, nil
}
