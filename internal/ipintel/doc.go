// Package ipintel answers what the network says about a client address: its country
// (ISO 3166-1 alpha-2), its autonomous system (number and organisation), and whether it
// belongs to a data centre — a hosting, cloud or VPS provider or a commercial VPN or
// proxy — rather than a home, office or mobile connection.
//
// Data:
//   - country: a MaxMind-format database (.mmdb) whose records carry "country_code", read
//     with github.com/oschwald/maxminddb-golang/v2 (the CC0 geo-whois-asn-country set of
//     the npm @ip-location-db family);
//   - ASN: CSV files of inclusive ranges "first,last,asn,organisation", IPv4 or IPv6
//     addresses (the CC BY 4.0 @ip-location-db/asn set), loaded into sorted range
//     tables searched in O(log n);
//   - data-centre networks: the curated list embedded from data/datacenter-asns.csv
//     (one source per entry; deploy/scripts/refresh-datacenter-asns.sh checks it against
//     the ASN data) and the operator's allow and deny lists (CIDRs and ASNs). An allowed
//     address or ASN is never a data centre's, whatever the deny lists and the curated
//     list say.
//
// A lookup allocates nothing: Info holds strings interned when the databases load. The
// databases are replaced whole (Service.Reload, on SIGHUP or when a file changes), with
// an atomic pointer swap: a lookup sees the old set or the new one, never a mix, and
// never waits.
package ipintel
