// Package event holds refedge's events and nothing else: the Click, Impression and
// Revocation the edges produce, the Verdict and its reason codes, the Kafka Envelope and
// topic names, the marketplace's payloads (partners, users, kworks, orders) and the
// ledger's output payloads, their codecs and ids. It imports only the standard library,
// so the edges (tracker, widget, banners) can fill events without pulling in Kafka,
// ClickHouse or JSON Schema code.
//
// Where things happen to these events: pipeline batches them to the sinks (sink), with
// spool keeping batches on disk while a sink is down; ledger turns marketplace events
// into attributions and commissions by the program's rules (rules); analytics answers
// partners' questions from ClickHouse, drawn by dashboard; review ranks partners for
// operators.
package event
