package redisx

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// Slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of the key, or of its hash
// tag (the part between the first "{" and the next "}", when not empty), modulo 16384,
// as the Redis Cluster specification defines it.
func Slot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^key[i]]
	}
	return crc & 16383
}

// crc16tab is the CRC16-CCITT (XMODEM, polynomial 0x1021) table.
var crc16tab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// IsCluster reports whether c talks to a Redis Cluster, where the keys one script
// touches must share a slot; c may be a *Client.
func IsCluster(c redis.UniversalClient) bool {
	if w, ok := c.(*Client); ok {
		c = w.UniversalClient
	}
	_, ok := c.(*redis.ClusterClient)
	return ok
}
