#!/usr/bin/env bash
# Refreshes the crawler User-Agent list embedded by tracker/crawlers.
#
# Fetches the npm package crawler-user-agents (MIT, github.com/monperrus/crawler-user-agents)
# with `npm pack` into a temporary folder and copies its JSON list and LICENSE into
# tracker/crawlers/data/, writing data/SOURCE with package, version and fetch date.
#
# Usage: deploy/scripts/refresh-crawlers.sh [version]   (default: latest)
# Afterwards run `go test ./tracker/crawlers/`: TestListInstances and TestCorpora tell
# whether the new list compiles, matches its own instances and still spares browsers.
set -euo pipefail

pkg=crawler-user-agents
version=${1:-latest}
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$root/tracker/crawlers/data

command -v npm >/dev/null || { echo "refresh-crawlers: npm is required" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
tarball=$(ls "$tmp"/"$pkg"-*.tgz)
tar -xzf "$tarball" -C "$tmp"
got=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$tmp/package/package.json" | head -n1)
[ -n "$got" ] || { echo "refresh-crawlers: cannot read version from package.json" >&2; exit 1; }
[ -s "$tmp/package/crawler-user-agents.json" ] || { echo "refresh-crawlers: $pkg@$got has no crawler-user-agents.json" >&2; exit 1; }

mkdir -p "$dest"
cp "$tmp/package/crawler-user-agents.json" "$dest/crawler-user-agents.json"
cp "$tmp/package/LICENSE" "$dest/LICENSE.crawler-user-agents"
cat >"$dest/SOURCE" <<SRC
package: $pkg
version: $got
fetched: $(date -u +%Y-%m-%d)
licence: MIT (see LICENSE.crawler-user-agents)
upstream: https://github.com/monperrus/crawler-user-agents
tarball: $(basename "$tarball") (npm pack $pkg@$version)
SRC
echo "refresh-crawlers: $pkg@$got -> $dest ($(grep -c '"pattern"' "$dest/crawler-user-agents.json") patterns)"
