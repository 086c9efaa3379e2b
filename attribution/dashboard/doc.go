// Package dashboard serves the partner's /partner pages: sign-in, the dashboard of
// clicks, verdicts with their reasons, impressions, signups, referrals and earnings. Every
// number on it comes from package analytics for the signed-in partner only.
package dashboard
