// Package nginx holds the front-proxy routing that puts refedge on the marketplace's own
// hostname (refedge.conf.template) and renders it. The docker compose stack feeds the
// same template to the nginx image's envsubst; this package's test runs it with Debian's
// nginx in front of two refedge processes and a stand-in marketplace, and drives one wrk
// run through it.
package nginx
