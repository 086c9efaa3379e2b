package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/refedge/refedge/attribution/event"
)

// A spool keeps the batches a sink could not take, on disk, until it can: append-only
// segment files of checksummed records, replayed oldest first. Each sink of each
// pipeline has its own folder, so a ClickHouse outage never holds Kafka back.
//
// Record framing: 4-byte big-endian payload length, 4-byte CRC-32C of the payload, the
// payload (one event, encoded by the pipeline's event.Codec). A record that fails its
// length or checksum marks the segment corrupt: the records before it are delivered,
// the file is moved to quarantine/ and counted, and replay goes on with the next file.

// FsyncPolicy says when spooled data is forced to disk.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncBatch syncs after every spooled batch (default): nothing acknowledged to the
	// pipeline is lost to a crash of the machine.
	FsyncBatch FsyncPolicy = "batch"
	// FsyncNever leaves it to the OS: a process crash loses nothing, a machine crash
	// may lose the last seconds.
	FsyncNever FsyncPolicy = "never"
)

// Config configures a pipeline's disk spool. The zero Dir disables spooling:
// failed writes are then retried in memory.
type Config struct {
	// Dir is the pipeline's spool folder; each sink gets a subfolder.
	Dir string
	// MaxBytes bounds the spool of one sink; 0 means 1 GiB. A full spool stops taking
	// batches (they are retried in memory and the queue applies backpressure) and
	// raises refedge_spool_full.
	MaxBytes int64
	// SegmentBytes rotates segment files at this size; 0 means 16 MiB.
	SegmentBytes int64
	// Fsync is FsyncBatch (default) or FsyncNever.
	Fsync FsyncPolicy
	// SpoolAfter is how many failed attempts send a batch to the spool; 0 means 3.
	SpoolAfter int
}

// NewDefaultConfig returns a config with every default filled in (Dir empty).
func NewDefaultConfig() Config {
	var c Config
	c.Defaults()
	return c
}

func (c *Config) Defaults() {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 30
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 16 << 20
	}
	if c.Fsync == "" {
		c.Fsync = FsyncBatch
	}
	if c.SpoolAfter <= 0 {
		c.SpoolAfter = 3
	}
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const recordHeader = 8

// maxRecord bounds one record, so a corrupt length cannot make replay allocate wildly.
const maxRecord = 1 << 20

// spool is one sink's spool. It is used by that sink's goroutine only, except for the
// size read by metrics.
type Spool struct {
	cfg    Config
	dir    string
	log    *slog.Logger
	labels []string

	mu       sync.Mutex
	size     int64    // bytes in all segments
	segments []string // closed segment names, oldest first
	active   *os.File
	activeW  *bufio.Writer
	activeN  int64
	nextSeq  uint64
	buf      []byte
}

func Open(cfg Config, dir string, log *slog.Logger, labels ...string) (*Spool, error) {
	cfg.Defaults()
	if err := os.MkdirAll(filepath.Join(dir, "quarantine"), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create spool folder %s: %w", dir, err)
	}
	s := &Spool{cfg: cfg, dir: dir, log: log, labels: labels}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".seg") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		s.size += info.Size()
		s.segments = append(s.segments, name)
		var seq uint64
		if _, err := fmt.Sscanf(name, "%020d.seg", &seq); err == nil && seq >= s.nextSeq {
			s.nextSeq = seq + 1
		}
	}
	sort.Strings(s.segments)
	s.report()
	if len(s.segments) > 0 {
		log.Warn("spool has events from an earlier run; they will be replayed first",
			"dir", dir, "segments", len(s.segments), "bytes", s.size)
	}
	return s, nil
}

// empty reports whether nothing is spooled.
func (s *Spool) Empty() bool { return len(s.segments) == 0 && s.activeN == 0 }

// full reports whether another batch would exceed MaxBytes.
func (s *Spool) Full() bool { return s.size >= s.cfg.MaxBytes }

// sizeLocked returns the bytes spooled, for readers outside the sink's goroutine.
func (s *Spool) SizeLocked() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// fullLocked is full for readers outside the sink's goroutine.
func (s *Spool) FullLocked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Full()
}

// append writes a batch as records to the active segment.
func AppendBatch[T any](s *Spool, codec event.Codec[T], batch []T) error {
	if s.active == nil {
		name := fmt.Sprintf("%020d.seg", s.nextSeq)
		f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("cannot open spool segment: %w", err)
		}
		s.nextSeq++
		s.active, s.activeW, s.activeN = f, bufio.NewWriterSize(f, 256<<10), 0
	}
	var n int64
	for _, e := range batch {
		s.buf = codec.Encode(s.buf[:0], e)
		var h [recordHeader]byte
		binary.BigEndian.PutUint32(h[0:4], uint32(len(s.buf)))
		binary.BigEndian.PutUint32(h[4:8], crc32.Checksum(s.buf, crcTable))
		if _, err := s.activeW.Write(h[:]); err != nil {
			return err
		}
		if _, err := s.activeW.Write(s.buf); err != nil {
			return err
		}
		n += int64(recordHeader + len(s.buf))
	}
	if err := s.activeW.Flush(); err != nil {
		return fmt.Errorf("cannot write spool segment: %w", err)
	}
	if s.cfg.Fsync == FsyncBatch {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("cannot sync spool segment: %w", err)
		}
	}
	s.activeN += n
	s.mu.Lock()
	s.size += n
	s.mu.Unlock()
	spoolSpooled.WithLabelValues(s.labels...).Add(float64(len(batch)))
	if s.activeN >= s.cfg.SegmentBytes {
		return s.rotate()
	}
	s.report()
	return nil
}

// rotate closes the active segment, making it replayable.
func (s *Spool) rotate() error {
	if s.active == nil {
		return nil
	}
	name := filepath.Base(s.active.Name())
	err := s.active.Close()
	s.active, s.activeW = nil, nil
	if s.activeN > 0 {
		s.segments = append(s.segments, name)
	} else {
		_ = os.Remove(filepath.Join(s.dir, name))
	}
	s.activeN = 0
	s.report()
	return err
}

// replayOldest reads the oldest segment and hands its events to write. On success the
// segment is removed; a corrupt segment delivers its valid prefix and is quarantined.
func ReplayOldest[T any](s *Spool, codec event.Codec[T], maxBatch int, write func([]T) error) error {
	if len(s.segments) == 0 {
		if err := s.rotate(); err != nil {
			return err
		}
		if len(s.segments) == 0 {
			return nil
		}
	}
	name := s.segments[0]
	path := filepath.Join(s.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, _ := f.Stat()
	r := bufio.NewReaderSize(f, 256<<10)
	var (
		batch   []T
		corrupt error
		payload []byte
	)
	// A segment is replayed whole or not at all from the sink's point of view: a failed
	// write leaves the file in place and the next attempt starts from its beginning
	// (the sinks are at-least-once; ids make the retry harmless downstream).
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := write(batch)
		batch = batch[:0]
		return err
	}
	for {
		var h [recordHeader]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if !errors.Is(err, io.EOF) {
				corrupt = fmt.Errorf("truncated record header: %w", err)
			}
			break
		}
		n := binary.BigEndian.Uint32(h[0:4])
		if n == 0 || n > maxRecord {
			corrupt = fmt.Errorf("record length %d out of range", n)
			break
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			corrupt = fmt.Errorf("truncated record: %w", err)
			break
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(h[4:8]) {
			corrupt = errors.New("checksum mismatch")
			break
		}
		e, err := codec.Decode(payload)
		if err != nil {
			corrupt = fmt.Errorf("undecodable record: %w", err)
			break
		}
		batch = append(batch, e)
		if len(batch) >= maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	f.Close()
	if corrupt != nil {
		q := filepath.Join(s.dir, "quarantine", name)
		if err := os.Rename(path, q); err != nil {
			return fmt.Errorf("cannot quarantine corrupt spool segment %s: %w", name, err)
		}
		spoolQuarantined.WithLabelValues(s.labels...).Inc()
		s.log.Error("corrupt spool segment quarantined; the records before the damage were delivered",
			"segment", name, "moved_to", q, "err", corrupt)
	} else if err := os.Remove(path); err != nil {
		return err
	}
	s.segments = s.segments[1:]
	s.mu.Lock()
	if info != nil {
		s.size -= info.Size()
	}
	if s.size < 0 || s.Empty() {
		s.size = 0
	}
	s.mu.Unlock()
	s.report()
	return nil
}

func (s *Spool) report() {
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	spoolBytes.WithLabelValues(s.labels...).Set(float64(size))
	full := 0.0
	if size >= s.cfg.MaxBytes {
		full = 1
	}
	spoolFull.WithLabelValues(s.labels...).Set(full)
}

func (s *Spool) Close() error {
	if s.active == nil {
		return nil
	}
	err := s.activeW.Flush()
	if e := s.active.Sync(); err == nil {
		err = e
	}
	if e := s.rotate(); err == nil {
		err = e
	}
	return err
}
