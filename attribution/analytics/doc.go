// Package analytics answers partners' questions about their own traffic and money: the
// figures behind GET /api/v1/stats, /referrals, /earnings and /clicks, the /partner
// dashboard and the operators' review.
//
// Flow of one stats request: parse and bound the range (params.go); ask one small query
// which hours of the partner each aggregate can be trusted for (the seal check,
// trust.go); read trusted days and hours from the live counters and the sealer's builds,
// and the rest from raw rows with one row per id (stats.go); merge in Go. A background
// sealer (sealer.go, build.go) measures closed hours and builds their aggregates, and
// those of ended days, so that nearly every hour is trusted. Every query filters by the
// authenticated partner with a bound parameter and runs with a deadline on the analytics
// connection pool, never on the click path. docs/analytics.md has the exactness argument.
package analytics
