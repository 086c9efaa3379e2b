#!/usr/bin/env bash
# make bench: Go benchmarks of the hot paths, then wrk on loopback against a bare
# fasthttp 302 handler and refedge's full click path (real Redis and ClickHouse, embedded
# Kafka), in the same run so the ratio is meaningful on a noisy machine.
# Usage: deploy/bench/run.sh [seconds per wrk run, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
state=.run/bench
mkdir -p "$state"
eval "$(bash deploy/dev/services.sh env)"
command -v wrk >/dev/null || bash deploy/dev/services.sh install --tools

echo "== Go benchmarks"
go test -run XXX -bench . -benchmem -benchtime 1s ./tracker/ ./tracker/crawlers/ 2>&1 | grep -E '^(Benchmark|ok|PASS)' || true

go build -o "$state/refedge" ./cmd/refedge
go build -o "$state/bare302" ./deploy/bench/bare302

pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
"$state/bare302" -addr 127.0.0.1:18090 2>"$state/bare302.log" & pids+=($!)
REFEDGE_HTTP_ADDR=127.0.0.1:18080 REFEDGE_ADMIN_ADDR=127.0.0.1:18081 \
REFEDGE_MARKET_ORIGIN=https://market.example REFEDGE_SECRET=bench-secret-0123456789abcdef \
REFEDGE_REDIS_URL="redis://127.0.0.1:${RFE_REDIS_PORT:-16379}/0" \
REFEDGE_CLICKHOUSE_DSN="clickhouse://127.0.0.1:${RFE_CH_PORT:-19000}/refedge_bench" \
REFEDGE_KAFKA_BROKERS=embedded REFEDGE_KAFKA_EMBEDDED_ADDR=127.0.0.1:19093 \
REFEDGE_SPOOL_DIR="$state/spool" REFEDGE_LOG_FORMAT=json \
REFEDGE_BANNERS_DIR="$state/creatives" REFEDGE_BANNERS_CACHE_DIR="$state/banner-cache" \
  "$state/refedge" serve 2>"$state/refedge.log" & pids+=($!)

deadline=$((SECONDS + 60))
until curl -fsS http://127.0.0.1:18081/readyz >/dev/null 2>&1 && curl -fsS -o /dev/null http://127.0.0.1:18090/; do
  ((SECONDS < deadline)) || { echo "servers not ready"; tail "$state"/*.log; exit 1; }
  sleep 0.2
done
curl -fsS -X PUT -d '{"status":"active"}' http://127.0.0.1:18081/admin/v1/partners/bench >/dev/null
for i in $(seq 0 999); do echo "HSET rfe:partner:{bench-$i} status active"; done | redis-cli -p "${RFE_REDIS_PORT:-16379}" >/dev/null

run() { # name url [extra wrk args...]
  local name=$1 url=$2; shift 2
  local out
  out=$(wrk -t2 -c64 -d"${secs}s" --latency "$@" "$url")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  if grep -q "Non-2xx or 3xx" <<<"$out"; then echo "$name: $(grep 'Non-2xx' <<<"$out")" >&2; fi
  printf '%s %s %s %s\n' "$name" "$rps" "$p50" "$p99"
}
table() { # baseline-line lines...
  local base
  base=$(awk '{print $2}' <<<"$1")
  for r in "$@"; do
    read -r name rps p50 p99 <<<"$r"
    printf '%-22s %12s %10s %10s %8.2f\n' "$name" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$base" 'BEGIN{print a/b}')"
  done
}
echo "== wrk -t2 -c64 -d${secs}s on loopback ($(nproc) cores shared by wrk, the servers, Redis and ClickHouse)"
printf '%-22s %12s %10s %10s %8s\n' target req/s p50 p99 ratio
echo "-- keep-alive"
bare=$(run bare302 "http://127.0.0.1:18090/categories/design?ref=bench")
one=$(run click-one-url "http://127.0.0.1:18080/categories/design?x=1&ref=bench&src=link")
mix=$(run click-mix "http://127.0.0.1:18080" -s deploy/bench/mix.lua)
table "$bare" "$one" "$mix"
echo "-- new connection per request"
bare_nc=$(run bare302-newconn "http://127.0.0.1:18090/categories/design?ref=bench" -H "Connection: close")
mix_nc=$(run click-mix-newconn "http://127.0.0.1:18080" -s deploy/bench/mix.lua -H "Connection: close")
table "$bare_nc" "$mix_nc"
deadline=$((SECONDS + 30))
until [ "$(curl -fsS http://127.0.0.1:18081/metrics | awk '/^refedge_events_queue_depth\{pipeline="clicks"\}/ {print $2}')" = "0" ]; do
  ((SECONDS < deadline)) || break
  sleep 0.5
done
echo "clicks in ClickHouse refedge_bench.clicks by verdict:"
clickhouse-client --port "${RFE_CH_PORT:-19000}" -q 'SELECT verdict, count() FROM refedge_bench.clicks GROUP BY verdict ORDER BY count() DESC' 2>/dev/null || true
