package sink

import (
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestHashPartitionMatchesKafkaHash: KafkaClicks chooses every key's partition as
// kafka.Hash (NewWriter's balancer) does, for any key and partition count.
func TestHashPartitionMatchesKafkaHash(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("partner-0"), []byte("p-hostile"), []byte("\xff\xfe"), []byte("партнёр")}
	for range 5000 {
		k := make([]byte, r.IntN(40))
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		keys = append(keys, k)
	}
	for n := 1; n <= 64; n++ {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for _, k := range keys {
			want := (&kafka.Hash{}).Balance(kafka.Message{Key: k}, parts...)
			if got := hashPartition(k, n); got != want {
				t.Fatalf("key %q, %d partitions: got %d, kafka.Hash chose %d", k, n, got, want)
			}
		}
	}
}
