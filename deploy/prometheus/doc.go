// Package prometheus ships refedge's Prometheus rules: review-alerts.yml holds the
// traffic-quality recording and alerting rules (docs/review.md), embedded here so tools
// and tests read the file the repository ships.
package prometheus

import _ "embed"

// ReviewAlerts is the content of review-alerts.yml.
//
//go:embed review-alerts.yml
var ReviewAlerts []byte
