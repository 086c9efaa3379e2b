// Package spool keeps a pipeline's batches on disk while a sink cannot take them:
// checksummed segments (CRC-32C per record), replayed oldest first when the sink answers
// again, corrupt segments moved to quarantine with the reason, a size bound that reports
// when it is full. Records are encoded with an event.Codec.
package spool
