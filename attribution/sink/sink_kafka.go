package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

// NewWriter returns a kafka-go writer for topic with refedge's explicit settings:
// acks from all in-sync replicas, hash partitioning by key, a short batch timeout (the
// pipeline has already batched), synchronous writes so failures reach the caller.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10000,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		MaxAttempts:  3,
		Compression:  kafka.Lz4,
	}
}

// KafkaClicks produces click batches to W's topic (referral.clicks), keyed by partner.
//
// It takes its settings from W (brokers, transport, topic, acks, compression, batch
// limits, write timeout, attempts) but produces through kafka-go's Client, one produce
// request per partition and BatchBytes, not through W.WriteMessages: the Writer looks up
// the topic's metadata, hashes the key through its Balancer interface and copies each
// message into a batch of BatchSize messages per partition (1.5 MB per partition
// whatever the batch holds), four allocations per click. Partitions are chosen as
// kafka.Hash chooses them (FNV-1a of the key, as Sarama and NewWriter's balancer do), so
// a partner's clicks land where they always did; W.Balancer is not consulted.
type KafkaClicks struct {
	W *kafka.Writer

	spare event.Scratch[kafkaScratch] // reused after successful writes
}

// kafkaScratch holds one chunk's keys and values in a single buffer, and the clicks of
// each partition.
type kafkaScratch struct {
	buf   []byte
	ends  []int     // per click: end of its key, end of its value in buf
	parts [][]int32 // per partition: indexes of its clicks in the chunk
}

// Name implements Sink.
func (s *KafkaClicks) Name() string { return "kafka" }

// kafkaWriteChunk is how many clicks one round of produce requests takes: a pipeline
// batch is produced in chunks, so the encoded messages are held for a chunk rather than
// the whole batch (tens of MB less at full load), while each chunk still fills a full
// produce request per partition.
const kafkaWriteChunk = 8192

// Write implements Sink. Each chunk's keys and values are encoded into one buffer,
// kept for the next chunk once the broker has acknowledged this one (a failed or
// cancelled write may still be in flight inside kafka-go, so its buffer is dropped).
func (s *KafkaClicks) Write(ctx context.Context, clicks []*event.Click) error {
	for lo := 0; lo < len(clicks); lo += kafkaWriteChunk {
		hi := min(lo+kafkaWriteChunk, len(clicks))
		if err := s.write(ctx, clicks[lo:hi]); err != nil {
			return fmt.Errorf("cannot produce %d clicks to %s: %w", len(clicks), s.W.Topic, err)
		}
	}
	return nil
}

func (s *KafkaClicks) write(ctx context.Context, clicks []*event.Click) error {
	client := &kafka.Client{Addr: s.W.Addr, Transport: s.W.Transport, Timeout: writeTimeout(s.W)}
	n, err := topicPartitions(ctx, client, s.W.Topic)
	if err != nil {
		return err
	}
	sc := s.spare.Get()
	need := 0
	for _, c := range clicks {
		need += len(c.Partner()) + event.EnvelopeSize(c)
	}
	buf, ends := slices.Grow(sc.buf[:0], need), sc.ends[:0]
	for _, c := range clicks {
		buf = append(buf, c.Partner()...)
		ends = append(ends, len(buf))
		buf = c.AppendEnvelope(buf)
		ends = append(ends, len(buf))
	}
	parts := sc.parts
	if len(parts) < n {
		parts = append(parts, make([][]int32, n-len(parts))...)
	}
	for p := range parts {
		parts[p] = parts[p][:0]
	}
	start := 0
	for i := range clicks {
		p := hashPartition(buf[start:ends[2*i]], n)
		parts[p] = append(parts[p], int32(i))
		start = ends[2*i+1]
	}
	msgs := chunkMessages{clicks: clicks, buf: buf, ends: ends}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for p := range n {
		if len(parts[p]) == 0 {
			continue
		}
		wg.Go(func() { errs[p] = s.produce(ctx, client, msgs, p, parts[p]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sc.buf, sc.ends, sc.parts = buf, ends, parts
	s.spare.Put(sc)
	return nil
}

// chunkMessages are a chunk's clicks and their encoded keys and values.
type chunkMessages struct {
	clicks []*event.Click
	buf    []byte
	ends   []int
}

// message returns click i's key and value.
func (m chunkMessages) message(i int32) (key, value []byte) {
	start := 0
	if i > 0 {
		start = m.ends[2*i-1]
	}
	k, v := m.ends[2*i], m.ends[2*i+1]
	return m.buf[start:k:k], m.buf[k:v:v]
}

// recordOverhead is about what a record adds to its key and value in a record batch
// (length, attributes, timestamp and offset deltas, key and value lengths, headers):
// produce requests are cut at W.BatchBytes of keys, values and this.
const recordOverhead = 24

// produce sends the clicks idx of the chunk to partition p, in order, in requests of
// at most W.BatchBytes and W.BatchSize messages, each retried like kafka-go's Writer
// retries a batch: up to W.MaxAttempts on temporary and transient network errors.
func (s *KafkaClicks) produce(ctx context.Context, client *kafka.Client, msgs chunkMessages, p int, idx []int32) error {
	maxBytes, maxMsgs := s.W.BatchBytes, s.W.BatchSize
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	if maxMsgs <= 0 {
		maxMsgs = 100
	}
	for len(idx) > 0 {
		cut, size := 0, int64(0)
		for cut < len(idx) && cut < maxMsgs {
			k, v := msgs.message(idx[cut])
			size += int64(len(k) + len(v) + recordOverhead)
			if cut > 0 && size > maxBytes {
				break
			}
			cut++
		}
		if err := s.produceRequest(ctx, client, msgs, p, idx[:cut]); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		idx = idx[cut:]
	}
	return nil
}

func (s *KafkaClicks) produceRequest(ctx context.Context, client *kafka.Client, msgs chunkMessages, p int, idx []int32) error {
	attempts := s.W.MaxAttempts
	if attempts <= 0 {
		attempts = 10 // the Writer's default
	}
	backoffMin, backoffMax := s.W.WriteBackoffMin, s.W.WriteBackoffMax
	if backoffMin <= 0 {
		backoffMin = 100 * time.Millisecond
	}
	if backoffMax <= 0 {
		backoffMax = time.Second
	}
	var err error
	for attempt := range attempts {
		if attempt > 0 {
			select {
			case <-time.After(min(time.Duration(attempt*attempt)*backoffMin, backoffMax)):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
		}
		var res *kafka.ProduceResponse
		res, err = client.Produce(ctx, &kafka.ProduceRequest{
			Topic:        s.W.Topic,
			Partition:    p,
			RequiredAcks: s.W.RequiredAcks,
			Compression:  s.W.Compression,
			Records:      &clickRecords{msgs: msgs, idx: idx},
		})
		if err == nil && res != nil {
			err = res.Error
		}
		if err == nil || !retriable(err) {
			return err
		}
	}
	return err
}

// retriable reports whether kafka-go's Writer would try a failed batch again.
func retriable(err error) bool {
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// clickRecords reads a partition's clicks as records, reusing one record and its key
// and value readers (kafka-go encodes each record before it asks for the next).
type clickRecords struct {
	msgs       chunkMessages
	idx        []int32
	next       int
	rec        kafka.Record
	key, value bytesReader
}

// ReadRecord implements kafka.RecordReader.
func (r *clickRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.idx) {
		return nil, io.EOF
	}
	i := r.idx[r.next]
	r.next++
	k, v := r.msgs.message(i)
	r.key.Reset(k)
	r.value.Reset(v)
	r.rec = kafka.Record{Time: r.msgs.clicks[i].Time, Key: &r.key, Value: &r.value}
	return &r.rec, nil
}

// bytesReader is a kafka-go Bytes over a slice it does not copy. It must be a
// bytes.Reader (an io.WriterTo), as the Writer's: io.Copy from a plain io.Reader hands
// the copy to the lz4 writer's ReadFrom, which fails ("lz4: unhandled state").
type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }

// topicPartitions returns how many partitions topic has (kafka-go's transport caches
// the metadata, as it does for the Writer).
func topicPartitions(ctx context.Context, client *kafka.Client, topic string) (int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return 0, t.Error
			}
			if len(t.Partitions) == 0 {
				break
			}
			return len(t.Partitions), nil
		}
	}
	return 0, kafka.UnknownTopicOrPartition
}

func writeTimeout(w *kafka.Writer) time.Duration {
	if w.WriteTimeout > 0 {
		return w.WriteTimeout
	}
	return 10 * time.Second
}

// hashPartition is the partition kafka.Hash chooses for key among n: FNV-1a, the hash
// as an int32 modulo n, negated when negative (Sarama's hashPartitioner).
func hashPartition(key []byte, n int) int {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	p := int32(h) % int32(n)
	if p < 0 {
		p = -p
	}
	return int(p)
}
