#!/usr/bin/env bash
# Regenerates the second-round evaluation corpora of tracker/crawlers
# (tracker/crawlers/testdata/): bot User-Agents split into a tuning part and a held-out
# part, and in-app browser User-Agents from published test fixtures.
#
#   bots-tune.tsv.gz, bots-heldout.tsv.gz
#       bot UAs from the test fixtures of two npm packages, neither of them the embedded
#       list (crawler-user-agents) nor CrawlerDetect (refresh-ua-corpora.sh):
#         node-device-detector 1.1.2 (MIT; tests/fixtures/tests/bots.yml and
#           feed_reader.yml, Matomo device-detector's fixtures): family = the fixture's
#           bot category ("Search bot", "Crawler", "Site Monitor", ...), or
#           "Feed Reader"; 1.1.2 is the last version whose tarball has the fixtures
#         express-useragent 1.0.15 (MIT; test/bots.test.js): family "express-useragent"
#         woothee 1.11.1 (Apache-2.0; woothee/testsets/crawler*.yaml, the cases of
#           category "crawler"): family = the testset's name
#       The split is fixed before any rule is written, by a seeded hash of the UA:
#       held out when the first byte of SHA-256("refedge-heldout-1:" + UA) is below
#       0x80, else tuning. TestBotCorporaSplit recomputes it.
#   inapp-fixtures.tsv.gz
#       in-app browser and WebView UAs (people) from ua-parser-js 1.0.2
#       (test/browser-test.json, the in-app, WebView and app-browser cases; MIT) and
#       is-ua-webview 1.1.2 (test/data/webview.js; ISC).
#   browsers-top.tsv.gz
#       the current desktop and mobile browser UAs of top-user-agents (src/desktop.json,
#       src/mobile.json; MIT, refreshed by its authors from real traffic), for false
#       refusals of current browsers; TOP_VERSION picks the version (default latest).
#
# Line format: source<TAB>family<TAB>User-Agent, UTF-8, gzip, sorted.
# The section "Second round" of testdata/SOURCES.md describes these files and is kept by
# hand (refresh-ua-corpora.sh preserves it): update its counts and versions after a
# refresh. inapp-handwritten.tsv is not generated.
# Usage: deploy/scripts/refresh-bot-corpora.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$root/tracker/crawlers/testdata

# shellcheck source=deploy/scripts/npm-fetch.sh
. "$root/deploy/scripts/npm-fetch.sh"
need_tools refresh-bot-corpora npm node gzip

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT


npm_fetch node-device-detector@1.1.2 "$tmp/ndd" >/dev/null
npm_fetch express-useragent@1.0.15 "$tmp/eua" >/dev/null
npm_fetch ua-parser-js@1.0.2 "$tmp/uap" >/dev/null
npm_fetch is-ua-webview@1.1.2 "$tmp/wv" >/dev/null
npm_fetch woothee@1.11.1 "$tmp/wt" >/dev/null
npm_fetch "top-user-agents@${TOP_VERSION:-latest}" "$tmp/top" >/dev/null
top_version=$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$tmp/top/package/package.json")
echo "refresh-bot-corpora: top-user-agents $top_version"

node - "$dest" "$tmp" <<'JS'
const fs = require('fs'), zlib = require('zlib'), crypto = require('crypto'), path = require('path');
const [dest, tmp] = process.argv.slice(2);
const read = (...p) => fs.readFileSync(path.join(tmp, ...p), 'utf8');
const ok = s => s && !/[\x00-\x1f\t]/.test(s);

// A YAML scalar as the fixtures write it: plain, 'single' or "double" quoted.
const scalar = v => {
  v = v.trim();
  if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  if (v.startsWith('"')) return JSON.parse(v);
  return v;
};
// device-detector fixtures: "- " starts an item; "user_agent:" and "category:" in it.
const fixtureItems = (text, defaultFamily) => {
  const out = [];
  let cur = null;
  for (const line of text.split(/\r?\n/)) {
    if (/^-/.test(line)) { if (cur) out.push(cur); cur = { family: defaultFamily }; continue; }
    let m;
    if (cur && (m = line.match(/^  user_agent: (.*)$/))) cur.ua = scalar(m[1]);
    if (cur && defaultFamily === null && (m = line.match(/^    category: (.*)$/))) cur.family = scalar(m[1]) || 'uncategorised';
  }
  if (cur) out.push(cur);
  return out.filter(x => ok(x.ua));
};

const bots = [];
const fx = ['ndd', 'package', 'tests', 'fixtures', 'tests'];
for (const x of fixtureItems(read(...fx, 'bots.yml'), null)) bots.push(['device-detector', (x.family || 'uncategorised').toLowerCase() === 'crawler' ? 'Crawler' : (x.family || 'uncategorised'), x.ua]);
for (const x of fixtureItems(read(...fx, 'feed_reader.yml'), 'Feed Reader')) bots.push(['device-detector', x.family, x.ua]);
for (const m of read('eua', 'package', 'test', 'bots.test.js').matchAll(/var source = '((?:[^'\\]|\\.)*)'/g)) {
  const ua = m[1].replace(/\\(.)/g, '$1');
  if (ok(ua)) bots.push(['express-useragent', 'express-useragent', ua]);
}

// woothee testsets: "- target: '<UA>'" starts a case; "category:" follows.
const wtDir = path.join(tmp, 'wt', 'package', 'woothee', 'testsets');
for (const f of fs.readdirSync(wtDir).filter(f => /^crawler.*\.yaml$/.test(f)).sort()) {
  let ua = null;
  for (const line of fs.readFileSync(path.join(wtDir, f), 'utf8').split(/\r?\n/)) {
    let m;
    if ((m = line.match(/^- target: (.*)$/))) ua = scalar(m[1]);
    else if (ua !== null && (m = line.match(/^  category: (.*)$/))) {
      if (scalar(m[1]) === 'crawler' && ok(ua)) bots.push(['woothee', f.replace(/\.yaml$/, ''), ua]);
      ua = null;
    }
  }
}

const inapp = [];
const inappCase = /in-App|LINE|WeChat|QQ on|baidu app|GSA|WebView/;
for (const c of JSON.parse(read('uap', 'package', 'test', 'browser-test.json'))) {
  if (inappCase.test(c.desc) && ok(c.ua)) inapp.push(['ua-parser-js', c.desc, c.ua]);
}
for (const m of read('wv', 'package', 'test', 'data', 'webview.js').matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
  if (ok(m[1])) inapp.push(['is-ua-webview', 'WebView', m[1]]);
}

const uniq = rows => { const seen = new Set(); return rows.filter(r => !seen.has(r[2]) && seen.add(r[2])); };
const heldOut = ua => crypto.createHash('sha256').update('refedge-heldout-1:' + ua).digest()[0] < 0x80;
const write = (name, rows) => {
  rows = rows.map(r => r.join('\t')).sort();
  fs.writeFileSync(path.join(dest, name), zlib.gzipSync(Buffer.from(rows.join('\n') + '\n'), { level: 9, mtime: 0 }));
  console.log(`refresh-bot-corpora: ${name}: ${rows.length} UAs`);
};
const all = uniq(bots);
write('bots-tune.tsv.gz', all.filter(r => !heldOut(r[2])));
write('bots-heldout.tsv.gz', all.filter(r => heldOut(r[2])));
write('inapp-fixtures.tsv.gz', uniq(inapp));

const top = [];
for (const kind of ['desktop', 'mobile']) {
  for (const ua of JSON.parse(read('top', 'package', 'src', kind + '.json'))) if (ok(ua)) top.push(['top-user-agents', kind, ua]);
}
write('browsers-top.tsv.gz', uniq(top));
JS

cp "$tmp/eua/package/LICENSE" "$dest/LICENSE.express-useragent"
cp "$tmp/uap/package/license.md" "$dest/LICENSE.ua-parser-js"
cp "$tmp/wv/package/LICENSE" "$dest/LICENSE.is-ua-webview"
cp "$tmp/wt/package/LICENSE-Apache2" "$dest/LICENSE.woothee"
cp "$tmp/top/package/LICENSE.md" "$dest/LICENSE.top-user-agents"
# node-device-detector 1.1.2 ships no licence file; its package.json says MIT.
node -e 'const p=require(process.argv[1]); console.log(`${p.name} ${p.version}: licence "${p.license}" (package.json; the tarball has no licence file).\nAuthor: ${typeof p.author === "string" ? p.author : (p.author||{}).name}\nThe fixtures are those of Matomo device-detector (LGPL-3.0-or-later), as the package ships them.`)' "$tmp/ndd/package/package.json" >"$dest/LICENSE.node-device-detector"
echo "refresh-bot-corpora: wrote $dest"
