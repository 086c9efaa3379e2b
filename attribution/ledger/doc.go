// Package ledger is the referral ledger. Consumer groups read the marketplace's topics
// (partners, users, kworks, orders); for each referral one Lua script in Redis
// (ledger.lua) decides attribution, activation, detachment, expiry and every commission
// line on the events' own time, by the program in package rules, and records each
// decision with its reason. An outbox with leases produces referral.attributions and
// referral.commissions exactly once per idempotency key before offsets are committed;
// events that cannot be read go to the dead-letter topic with a reason. The sweeper
// expires and detaches on time, Rebuild restores Redis from Kafka, and the mirror copies
// the output events into ClickHouse for analytics. docs/commissions.md has the rules.
package ledger
