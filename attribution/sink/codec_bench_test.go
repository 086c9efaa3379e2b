package sink_test

import (
	"bytes"
	"testing"

	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/lz4"
	"github.com/segmentio/kafka-go/compress/snappy"
	"github.com/segmentio/kafka-go/compress/zstd"
)

// BenchmarkClickCompression compresses what one produce request per partition carries
// (about 1 MB of click envelopes, the writer's BatchBytes) with the codecs kafka-go
// offers: CPU per click (ns/click) and compressed bytes per click (B/click).
func BenchmarkClickCompression(b *testing.B) {
	clicks := benchBatch(b, 1400)
	var raw []byte
	for _, c := range clicks {
		raw = append(raw, c.Partner()...)
		raw = c.AppendEnvelope(raw)
	}
	for _, cc := range []struct {
		name  string
		codec compress.Codec
	}{
		{"lz4", &lz4.Codec{}},
		{"snappy-default", &snappy.Codec{}},
		{"snappy-faster", &snappy.Codec{Compression: snappy.FasterCompression}},
		{"zstd-1", &zstd.Codec{Level: 1}},
		{"zstd-3", &zstd.Codec{}},
	} {
		b.Run(cc.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out.Reset()
				w := cc.codec.NewWriter(&out)
				if _, err := w.Write(raw); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(clicks)), "ns/click")
			b.ReportMetric(float64(out.Len())/float64(len(clicks)), "B/click")
		})
	}
}
