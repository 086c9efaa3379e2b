// Package kafka holds refedge's Kafka topic specs as data (topics.json, embedded) and
// creates them on a cluster: `refedge kafka-topics` reads the specs, creates the topics
// that are missing with kafka-go's CreateTopics, and compares the ones that exist
// (partitions, replication factor, the configs the spec sets) without changing them.
//
// Nothing is ever altered in place: adding partitions to a keyed topic moves keys between
// partitions, and a config change on a live topic is an operator's decision
// (docs/operations.md).
package kafka
