#!/usr/bin/env bash
# Seeds demo data through the admin API ($1, e.g. http://127.0.0.1:8081): a demo partner,
# a blocked one, demo kworks when the widget catalog is present, a partner API token and
# a dashboard login link. Writes the credentials to $RFE_STATE_DIR/seed.txt.
# RFE_ADMIN_SECRET is the secret of an admin entry of REFEDGE_ADMIN_TOKENS (run.sh sets it).
set -euo pipefail
admin="$1"
state="${RFE_STATE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.run}"
auth=()
[ -n "${RFE_ADMIN_SECRET:-}" ] && auth=(-H "Authorization: Bearer $RFE_ADMIN_SECRET")
put() { curl -fsS "${auth[@]}" -X PUT -H 'Content-Type: application/json' -d "$2" "$admin$1" >/dev/null; }

put /admin/v1/partners/demo '{"status":"active","user_id":"u-demo-partner","email_confirmed":true}'
put /admin/v1/partners/blocked-demo '{"status":"blocked","user_id":"u-blocked"}'

market="${REFEDGE_MARKET_ORIGIN:-http://localhost:8090}"
i=0
for k in "Logo design in 24 hours|design|150000" "Landing page copywriting|writing|90000" \
         "WordPress site speed-up|development|250000" "Business card design|design|50000" \
         "SEO audit of your site|marketing|120000" "Banner set for ads|design|80000" \
         "Telegram bot in Go|development|400000" "Product descriptions x10|writing|60000"; do
  i=$((i + 1))
  IFS='|' read -r title cat price <<<"$k"
  # The kwork admin API arrives with the widget; skip quietly when it is not there.
  put "/admin/v1/kworks/demo-$i" "{\"title\":\"$title\",\"category\":\"$cat\",\"price\":$price,\"currency\":\"RUB\",\"url\":\"$market/kwork/demo-$i\",\"seller_id\":\"s-$i\",\"rating\":4.$i,\"status\":\"active\"}" 2>/dev/null || true
done

token=$(curl -fsS "${auth[@]}" -X POST "$admin/admin/v1/partners/demo/tokens" 2>/dev/null | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' || true)
login=$(curl -fsS "${auth[@]}" -X POST "$admin/admin/v1/partners/demo/login-links" 2>/dev/null | sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' || true)
{
  [ -n "$token" ] && echo "  Partner API token for 'demo':  curl -H 'Authorization: Bearer $token' ${REFEDGE_PUBLIC_URL:-http://localhost:8080}/api/v1/stats"
  [ -n "$login" ] && echo "  Dashboard login link (10 minutes): $login"
  true
} >"$state/seed.txt"
echo "demo data seeded"
