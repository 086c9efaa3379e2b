#!/usr/bin/env bash
# make bench-geo-reload: the IP databases reloaded under load. refedge runs as `make
# bench` runs it (deploy/bench/run.sh: real Redis and ClickHouse, the embedded Kafka
# broker as its own process), with the network step on from a copy of the pinned
# databases; wrk drives the click mix (deploy/bench/geo-mix.lua: mix.lua's clicks from
# consumer and cloud networks, IPv4 and IPv6, through a trusted proxy) twice, first
# without reloads (the baseline of the same moment), then while the databases are
# reloaded over and over: SIGHUP every RELOAD_EVERY seconds, and every
# fourth time a database file is replaced (a complete copy renamed over it) or touched,
# so the file-change watcher (REFEDGE_GEO_RELOAD_INTERVAL=1s) fires too. Then it reports
# the requests wrk sent, the answers that were not 2xx/3xx and the 5xx among them, the
# reloads refedge counted, and the clicks in ClickHouse against the clicks the edge
# accepted (polled until they settle). It fails unless there was no 5xx, no failed
# reload, at least one reload of each kind, and no click lost.
#
# Usage: deploy/bench/geo-reload.sh [seconds of load, default 25]
# Environment:
#   BENCH_GEO_DIR   folder with the databases geo-data.sh installs (default: .run/geo,
#                   fetched when missing)
#   RELOAD_EVERY    seconds between SIGHUPs (default 0.5)
# Ports: 48080 (public), 48081 (admin), 48093 (broker); ClickHouse database
# refedge_georeload, dropped first; Redis database 0 (partners georeload-*).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-25}"
every="${RELOAD_EVERY:-0.5}"
state=.run/bench-geo
mkdir -p "$state"
eval "$(bash deploy/dev/services.sh env)"
command -v wrk >/dev/null || bash deploy/dev/services.sh install --tools
redis_port="${RFE_REDIS_PORT:-16379}"
ch_port="${RFE_CH_PORT:-19000}"
http=127.0.0.1:48080 admin=http://127.0.0.1:48081 broker=127.0.0.1:48093
db=refedge_georeload
chq() { clickhouse-client --port "$ch_port" -q "$1"; }
metric() { # name{labels} as /metrics prints it: its value, 0 when absent
  curl -fsS "$admin/metrics" | awk -v m="$1" '$1 == m {v = $2} END {printf "%.0f", v + 0}'
}

geo_src="${BENCH_GEO_DIR:-.run/geo}"
[ -f "$geo_src/VERSIONS" ] || RFE_GEO_DIR="$geo_src" bash deploy/scripts/geo-data.sh fetch
geo="$PWD/$state/geo"
rm -rf "$geo" && mkdir -p "$geo"
cp "$geo_src"/geo-whois-asn-country.mmdb "$geo_src"/asn-ipv4.csv "$geo_src"/asn-ipv6.csv "$geo/"

go build -o "$state/refedge" ./cmd/refedge
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

chq "DROP DATABASE IF EXISTS $db"
rm -rf "$state/kafka" "$state/spool"
REFEDGE_KAFKA_EMBEDDED_ADDR=$broker REFEDGE_KAFKA_DATA_DIR="$PWD/$state/kafka" \
  "$state/refedge" kafka-dev 2>"$state/broker.log" & broker_pid=$!; pids+=($!)
deadline=$((SECONDS + 30))
until (echo >"/dev/tcp/${broker%:*}/${broker#*:}") 2>/dev/null; do
  kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)) || { echo "broker not started"; cat "$state/broker.log"; exit 1; }
  sleep 0.2
done
token=$(head -c 24 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=")
REFEDGE_HTTP_ADDR=$http REFEDGE_ADMIN_ADDR=${admin#http://} \
REFEDGE_MARKET_ORIGIN=https://market.example REFEDGE_SECRET=bench-secret-0123456789abcdef \
REFEDGE_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
REFEDGE_CLICKHOUSE_DSN="clickhouse://127.0.0.1:$ch_port/$db" \
REFEDGE_KAFKA_BROKERS=$broker \
REFEDGE_SPOOL_DIR="$state/spool" REFEDGE_LOG_FORMAT=json \
REFEDGE_BANNERS_DIR="$state/creatives" REFEDGE_BANNERS_CACHE_DIR="$state/banner-cache" \
REFEDGE_ADMIN_TOKENS="bench:admin:$token" \
REFEDGE_GEO_COUNTRY_DB="$geo/geo-whois-asn-country.mmdb" \
REFEDGE_GEO_ASN_DB="$geo/asn-ipv4.csv,$geo/asn-ipv6.csv" \
REFEDGE_GEO_RELOAD_INTERVAL=1s \
  "$state/refedge" serve 2>"$state/refedge.log" & edge_pid=$!; pids+=($!)
deadline=$((SECONDS + 60))
until curl -fsS "$admin/readyz?strict=1" >/dev/null 2>&1; do
  kill -0 "$edge_pid" 2>/dev/null && ((SECONDS < deadline)) || { echo "refedge not ready"; tail "$state/refedge.log"; exit 1; }
  sleep 0.2
done
curl -fsS "$admin/readyz" | grep -q '"geo": *"ok"' || { echo "network step not on:"; curl -fsS "$admin/readyz"; exit 1; }
# mix.lua's partners are bench-0 .. bench-999; this run registers them in Redis 0 as
# run.sh does (an active partner with a confirmed email).
for i in $(seq 0 999); do echo "HSET rfe:partner:{bench-$i} status active email_confirmed true"; done | redis-cli -p "$redis_port" >/dev/null

# reloader: SIGHUP every $every s; every fourth tick also replace the country file by
# renaming a complete copy over it, or touch an ASN file, in turn (the watcher's path).
reloader() {
  local i=0
  while kill -0 "$edge_pid" 2>/dev/null; do
    kill -HUP "$edge_pid"
    i=$((i + 1))
    if ((i % 8 == 4)); then
      cp "$geo/geo-whois-asn-country.mmdb" "$geo/.country.tmp" && mv -f "$geo/.country.tmp" "$geo/geo-whois-asn-country.mmdb"
    elif ((i % 8 == 0)); then
      touch "$geo/asn-ipv4.csv"
    fi
    echo "$i" >"$state/hups"
    sleep "$every"
  done
}
ok0=$(metric 'refedge_geo_reloads_total{result="ok"}') err0=$(metric 'refedge_geo_reloads_total{result="error"}')
enq0=$(metric 'refedge_events_enqueued_total{pipeline="clicks"}')
# load name: one wrk run of the mix; prints "name req/s p99 answered non-2xx/3xx 5xx
# refedge-cores".
load() {
  local cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' "/proc/$edge_pid/stat")
  BENCH_SEED=$RANDOM$RANDOM wrk -t2 -c64 -d"${secs}s" --latency -s deploy/bench/geo-mix.lua "http://$http" >"$state/wrk-$1.out"
  cpu1=$(awk '{print $14 + $15}' "/proc/$edge_pid/stat")
  local non23
  non23=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$state/wrk-$1.out")
  if grep -q 'Socket errors' "$state/wrk-$1.out"; then grep 'Socket errors' "$state/wrk-$1.out" >&2; fi
  echo "$1 $(awk '/Requests\/sec/ {print $2}' "$state/wrk-$1.out") $(awk '$1=="99%" {print $2}' "$state/wrk-$1.out")" \
    "$(awk '/requests in/ {print $1}' "$state/wrk-$1.out") ${non23:-0} $(awk '/^5xx responses:/ {print $3}' "$state/wrk-$1.out")" \
    "$(awk -v a="$cpu0" -v b="$cpu1" -v s="$secs" 'BEGIN{printf "%.2f", (b-a)/100/s}')"
}
echo "== geo reload under load: wrk -t2 -c64 -d${secs}s, click mix from consumer and cloud networks; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "-- baseline: no reload"
base=$(load baseline)
echo "-- reloading: SIGHUP every ${every}s, a file replaced or touched every $(awk -v e="$every" 'BEGIN{print 4 * e}')s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
reloader & reloader_pid=$!; pids+=($!)
reload=$(load reloading)
kill "$reloader_pid" 2>/dev/null || true
wait "$reloader_pid" 2>/dev/null || true
# The last SIGHUP's reload may still run: wait until every reload logged has been
# counted (a reload of the pinned data takes about a second of CPU, longer under load).
sighup_logs=0 file_logs=0 oks=0 errs=0
for _ in $(seq 1 60); do
  sighup_logs=$(grep -c 'SIGHUP: reloading' "$state/refedge.log" || true)
  file_logs=$(grep -c 'file changed: reloading' "$state/refedge.log" || true)
  oks=$(( $(metric 'refedge_geo_reloads_total{result="ok"}') - ok0 ))
  errs=$(( $(metric 'refedge_geo_reloads_total{result="error"}') - err0 ))
  ((oks + errs >= sighup_logs + file_logs)) && break
  sleep 0.5
done
enq=$(( $(metric 'refedge_events_enqueued_total{pipeline="clicks"}') - enq0 ))
hups=$(cat "$state/hups" 2>/dev/null || echo 0)
read -r _ _ _ sent_b non_b s5_b _ <<<"$base"
read -r _ _ _ sent_r non_r s5_r _ <<<"$reload"
sent=$((sent_b + sent_r)) s5xx=$((s5_b + s5_r))

# ClickHouse: poll until the count reaches the clicks accepted, or stops moving for 10 s
# after the queue drained, within 90 s.
deadline=$((SECONDS + 90)) last=-1 still=0
while :; do
  rows=$(chq "SELECT count() FROM $db.clicks" 2>/dev/null || echo 0)
  [ "$rows" -ge "$enq" ] && break
  if [ "$rows" = "$last" ]; then still=$((still + 1)); else still=0; fi
  last=$rows
  ((still >= 20 || SECONDS >= deadline)) && break
  sleep 0.5
done
lost=$((enq - rows))

printf '%-10s %10s %10s %10s %12s %6s %13s\n' run req/s p99 answered non-2xx/3xx 5xx refedge-cores
for r in "$base" "$reload"; do
  read -r name rps p99 n non s5 cores <<<"$r"
  printf '%-10s %10s %10s %10s %12s %6s %13s\n' "$name" "$rps" "$p99" "$n" "$non" "$s5" "$cores"
done
echo "req/s while reloading / baseline   $(awk -v a="$(awk '{print $2}' <<<"$reload")" -v b="$(awk '{print $2}' <<<"$base")" 'BEGIN{printf "%.2f", a/b}')"
echo "SIGHUPs sent                       $hups"
echo "reloads counted                    ok $oks, error $errs (refedge_geo_reloads_total); started by SIGHUP $sighup_logs, by a file change $file_logs (log)"
echo "clicks accepted by the edge        $enq (refedge_events_enqueued_total{pipeline=\"clicks\"}; wrk's answered $sent, plus requests cut off at each run's end)"
echo "clicks in ClickHouse               $rows; lost $lost"
echo "by network (country, ASN, verdict):"
chq "SELECT country, asn, verdict, count() AS n FROM $db.clicks GROUP BY country, asn, verdict ORDER BY n DESC LIMIT 20 FORMAT TSVWithNames"
unknown=$(chq "SELECT countIf(country = '' OR asn = 0) FROM $db.clicks")
echo "clicks with no country or no ASN   $unknown (each address of the mix is in both databases)"

fail=0
[ "$s5xx" = "0" ] || { echo "FAIL: $s5xx answers were 5xx"; fail=1; }
[ "$errs" = "0" ] || { echo "FAIL: $errs reloads failed (grep 'cannot reload' $state/refedge.log)"; fail=1; }
((sighup_logs > 0 && file_logs > 0)) || { echo "FAIL: not both reload paths ran (SIGHUP $sighup_logs, file change $file_logs)"; fail=1; }
[ "$lost" = "0" ] || { echo "FAIL: $lost clicks accepted by the edge are not in ClickHouse"; fail=1; }
[ "$unknown" = "0" ] || { echo "FAIL: $unknown clicks were looked up with no database"; fail=1; }
((enq >= sent)) || { echo "FAIL: the edge accepted $enq clicks, fewer than the $sent answers"; fail=1; }
exit $fail
