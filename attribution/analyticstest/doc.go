// Package analyticstest runs the analytics stack for tests: real ClickHouse and Redis,
// the partner API and dashboard on a loopback server (Env), and a seeded month of
// simulated traffic with the answers it must produce (Data, Want).
package analyticstest
