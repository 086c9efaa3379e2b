#!/usr/bin/env bash
# make run: the whole of refedge on this machine. Starts real Redis and ClickHouse
# (installing the Debian packages when missing), the marketplace stub, and refedge with
# its embedded Kafka broker; seeds demo data through the admin API; prints the URLs to
# try; stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
state="${RFE_STATE_DIR:-$root/.run}"
mkdir -p "$state"

bash deploy/dev/services.sh install
bash deploy/dev/services.sh start
eval "$(bash deploy/dev/services.sh env)"

go build -o "$state/refedge" ./cmd/refedge

# The IP databases (country, ASN) for the network step; without them refedge runs with
# the step off and says so.
if bash deploy/scripts/geo-data.sh fetch; then
  eval "$(bash deploy/scripts/geo-data.sh env)"
else
  echo "run.sh: could not install the IP databases; refedge runs without the network step" >&2
fi

export REFEDGE_DEV=1
export REFEDGE_HTTP_ADDR="${REFEDGE_HTTP_ADDR:-127.0.0.1:8080}"
export REFEDGE_ADMIN_ADDR="${REFEDGE_ADMIN_ADDR:-127.0.0.1:8081}"
export REFEDGE_PUBLIC_URL="${REFEDGE_PUBLIC_URL:-http://localhost:8080}"
export REFEDGE_DEV_MARKET_ADDR="${REFEDGE_DEV_MARKET_ADDR:-127.0.0.1:8090}"
export REFEDGE_MARKET_ORIGIN="${REFEDGE_MARKET_ORIGIN:-http://localhost:8090}"
export REFEDGE_SECRET="${REFEDGE_SECRET:-dev-only-secret-change-me-0123456789}"
export REFEDGE_REDIS_URL="${REFEDGE_REDIS_URL:-redis://127.0.0.1:${RFE_REDIS_PORT:-16379}/0}"
export REFEDGE_CLICKHOUSE_DSN="${REFEDGE_CLICKHOUSE_DSN:-clickhouse://127.0.0.1:${RFE_CH_PORT:-19000}/refedge}"
export REFEDGE_KAFKA_BROKERS="${REFEDGE_KAFKA_BROKERS:-embedded}"
export REFEDGE_KAFKA_EMBEDDED_ADDR="${REFEDGE_KAFKA_EMBEDDED_ADDR:-127.0.0.1:9092}"
export REFEDGE_SPOOL_DIR="${REFEDGE_SPOOL_DIR:-$state/spool}"
export REFEDGE_BANNERS_DIR="${REFEDGE_BANNERS_DIR:-$state/creatives}"
export REFEDGE_BANNERS_CACHE_DIR="${REFEDGE_BANNERS_CACHE_DIR:-$state/banner-cache}"

# Operator credentials: an admin (seed.sh uses it) and a viewer (the review console),
# generated once and kept in $state/admin-tokens so a browser session survives a restart.
if [ -z "${REFEDGE_ADMIN_TOKENS:-}" ]; then
  if [ ! -s "$state/admin-tokens" ]; then
    gen() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
    (umask 077; printf 'dev-admin:admin:%s,dev-viewer:viewer:%s\n' "$(gen)" "$(gen)" >"$state/admin-tokens")
  fi
  REFEDGE_ADMIN_TOKENS=$(cat "$state/admin-tokens")
fi
export REFEDGE_ADMIN_TOKENS
# The first admin entry's secret, for seed.sh and the examples below.
RFE_ADMIN_SECRET=$(tr ',' '\n' <<<"$REFEDGE_ADMIN_TOKENS" | awk -F: '$2 == "admin" {sub(/^[^:]*:[^:]*:/, ""); print; exit}')
RFE_VIEWER_SECRET=$(tr ',' '\n' <<<"$REFEDGE_ADMIN_TOKENS" | awk -F: '$2 == "viewer" {sub(/^[^:]*:[^:]*:/, ""); print; exit}')
export RFE_ADMIN_SECRET

pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "refedge stopped (Redis and ClickHouse keep running: deploy/dev/services.sh stop)"
  exit 0
}
trap cleanup INT TERM EXIT

"$state/refedge" dev-market & pids+=($!)
"$state/refedge" serve & pids+=($!)

admin="http://$REFEDGE_ADMIN_ADDR"
deadline=$((SECONDS + 60))
until curl -fsS "$admin/readyz?strict=1" >/dev/null 2>&1; do  # strict: every dependency answers before seeding
  if ((SECONDS > deadline)); then echo "refedge did not become ready; see the log above" >&2; exit 1; fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "refedge exited; see the log above" >&2; exit 1; fi
  sleep 0.2
done

bash deploy/dev/seed.sh "$admin"

# A lived-in demo: three weeks of the demo partner's traffic through the click handler,
# and its signups, orders and a refund through the broker to the ledger, once per
# ClickHouse database (a second `make run` keeps what the first played).
played=$(clickhouse-client --port "${RFE_CH_PORT:-19000}" -q "SELECT count() FROM refedge.clicks WHERE partner_id = 'demo'" 2>/dev/null || echo 0)
if [ "${played:-0}" = 0 ]; then
  REFEDGE_KAFKA_BROKERS="$REFEDGE_KAFKA_EMBEDDED_ADDR" "$state/refedge" demo || echo "run.sh: the demo traffic failed; the dashboard starts empty" >&2
fi

pub="$REFEDGE_PUBLIC_URL"
ua='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36' 
cat <<TXT

refedge is running. Try:
  A referral click with a browser's headers (302 to the marketplace stub, rfe_vid and rfe_ref set):
    curl -si -A '$ua' -H 'Accept: text/html' -H 'Accept-Language: en' '$pub/categories/design?ref=demo&src=link'
  The same with a bare curl: recorded as a bot, no rfe_ref:
    curl -si '$pub/categories/design?ref=demo'
  In a browser:  $pub/categories/design?ref=demo
  A click for a blocked partner (recorded, no attribution):  $pub/?ref=blocked-demo
  Banners and embed codes:  $pub/b/materials?ref=demo
  Widget builder and dashboard: open the login link below, then $pub/w/builder and $pub/partner
  Link builder:             $pub/partner/links
  Operator console (sign in with the viewer's secret below):  $admin/admin/
    viewer secret:  ${RFE_VIEWER_SECRET:-(none in REFEDGE_ADMIN_TOKENS)}
    admin secret:   $RFE_ADMIN_SECRET   (kept in $state/admin-tokens)
  The admin API, as the admin:
    curl -H 'Authorization: Bearer $RFE_ADMIN_SECRET' $admin/admin/v1/partners/demo
  Readiness and metrics:    $admin/readyz   $admin/metrics
  The clicks in ClickHouse:
    clickhouse-client --port ${RFE_CH_PORT:-19000} -q 'SELECT ts, partner_id, verdict, reasons FROM refedge.clicks ORDER BY ts DESC LIMIT 10'
  The clicks on Kafka:
    kcat -b $REFEDGE_KAFKA_EMBEDDED_ADDR -t referral.clicks -C -e
$(cat "$state/seed.txt" 2>/dev/null || true)

Ctrl-C stops refedge and the stub.
TXT
wait "${pids[1]}"
