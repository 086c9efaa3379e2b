// Package simulate plays the marketplace core against a Kafka broker: partners, clicks
// with signed attribution cookies, registrations, kworks, orders and refunds, on a
// virtual clock. `refedge simulate` and the ledger's tests use it.
package simulate
