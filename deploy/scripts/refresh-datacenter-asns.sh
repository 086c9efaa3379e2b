#!/usr/bin/env bash
# Refreshes internal/ipintel/data/datacenter-asns.csv against the ASN data refedge uses.
#
# Installs the pinned IP databases (deploy/scripts/geo-data.sh fetch), then, for every
# entry of the curated list, rewrites the operator column with the AS organisation the
# ASN data names now, and fails on an AS number that announces no range any more (drop
# it by hand, or replace it with the operator's new one and its source). Comment lines
# and the order of entries are kept; the script adds no entry: each one is added by
# hand with the source that shows the network serves servers.
#
# Usage: deploy/scripts/refresh-datacenter-asns.sh
# Afterwards: git diff internal/ipintel/data/ and `go test ./internal/ipintel/`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$root/internal/ipintel/data/datacenter-asns.csv

# shellcheck source=npm-fetch.sh
. "$here/npm-fetch.sh"
need_tools refresh-datacenter-asns.sh node

bash "$here/geo-data.sh" fetch
dir=$(bash "$here/geo-data.sh" dir)

node - "$list" "$dir/asn-ipv4.csv" "$dir/asn-ipv6.csv" <<'JS'
const fs = require('fs');
const [list, ...data] = process.argv.slice(2);
// parse splits one CSV line (RFC 4180 quoting).
function parse(line) {
  const out = []; let cur = '', q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') { out.push(cur); cur = ''; }
    else cur += c;
  }
  out.push(cur);
  return out;
}
const quote = (s) => /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
const orgs = new Map();
for (const f of data) {
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (!line) continue;
    const r = parse(line);
    if (!orgs.has(r[2])) orgs.set(r[2], r[3]);
  }
}
const missing = [];
let changed = 0;
const out = fs.readFileSync(list, 'utf8').split('\n').map((line) => {
  if (!line || line.startsWith('#') || line.startsWith('asn,')) return line;
  const r = parse(line);
  const org = orgs.get(r[0]);
  if (org === undefined) { missing.push('AS' + r[0] + ' (' + r[2] + ')'); return line; }
  if (org !== r[2]) { changed++; console.error(`AS${r[0]}: operator "${r[2]}" -> "${org}"`); }
  r[2] = org;
  return r.map(quote).join(',');
});
if (missing.length) {
  console.error('refresh-datacenter-asns: no range in the ASN data for ' + missing.join(', '));
  process.exit(1);
}
fs.writeFileSync(list, out.join('\n'));
console.error(`refresh-datacenter-asns: ${changed} operator names changed`);
JS
