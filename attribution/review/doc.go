// Package review serves the operators: partners ranked by risk with the evidence
// (flagged shares, fast and shared signups, concentrated earnings), a drill-down per
// partner, and the console that shows each order's and referral's commission decisions
// and the audit trail. docs/review.md describes the score.
package review
