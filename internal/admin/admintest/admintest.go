// Package admintest gives tests operator credentials for the admin listener: an admin
// and a viewer, the REFEDGE_ADMIN_TOKENS value that declares them, a server that
// accepts them, and helpers that put them on requests. Every test that calls an admin
// route takes its credentials from here.
package admintest

import (
	"net/url"

	"github.com/chromedp/chromedp"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/refedge/refedge/internal/admin"
)

// The test credentials. Their secrets are test fixtures, never used outside tests.
const (
	AdminName    = "test-admin"
	AdminSecret  = "test-admin-secret-0123456789abcdef"
	ViewerName   = "test-viewer"
	ViewerSecret = "test-viewer-secret-0123456789abcdef"
	// A second admin, whose calls a test can tell apart from its fixture's in the
	// audit trail.
	OperatorName   = "test-operator"
	OperatorSecret = "test-operator-secret-0123456789abcdef"
)

// Credentials returns the admin, the viewer and the second admin.
func Credentials() []admin.Credential {
	return []admin.Credential{
		{Name: AdminName, Role: admin.RoleAdmin, Secret: AdminSecret},
		{Name: ViewerName, Role: admin.RoleViewer, Secret: ViewerSecret},
		{Name: OperatorName, Role: admin.RoleAdmin, Secret: OperatorSecret},
	}
}

// EnvValue is REFEDGE_ADMIN_TOKENS declaring Credentials.
const EnvValue = AdminName + ":admin:" + AdminSecret + "," + ViewerName + ":viewer:" + ViewerSecret + "," + OperatorName + ":admin:" + OperatorSecret

// New returns admin.New(log) accepting Credentials.
func New(log *slog.Logger) *admin.Server {
	s := admin.New(log)
	s.SetCredentials(Credentials())
	return s
}

// Bearer is the Authorization header value for secret.
func Bearer(secret string) string { return "Bearer " + secret }

// AsAdmin sets the admin's credential on req and returns it.
func AsAdmin(req *http.Request) *http.Request {
	req.Header.Set("Authorization", Bearer(AdminSecret))
	return req
}

// AsViewer sets the viewer's credential on req and returns it.
func AsViewer(req *http.Request) *http.Request {
	req.Header.Set("Authorization", Bearer(ViewerSecret))
	return req
}

// Request is httptest.NewRequest with the admin's credential.
func Request(method, target string, body io.Reader) *http.Request {
	return AsAdmin(httptest.NewRequest(method, target, body))
}

// Transport adds secret's Authorization header to every request that has none.
type Transport struct {
	Secret string
	Base   http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", Bearer(t.Secret))
	}
	return base.RoundTrip(req)
}

// Client returns an HTTP client that sends secret on every request.
func Client(secret string) *http.Client { return &http.Client{Transport: &Transport{Secret: secret}} }

// SignIn returns the browser steps that sign in to the console at base (the admin
// listener's URL) with secret, through the sign-in page a person uses, and wait for the
// page it lands on.
func SignIn(base, secret, next string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + admin.SignInPath + "?next=" + url.QueryEscape(next)),
		chromedp.WaitVisible("#secret"),
		chromedp.SendKeys("#secret", secret),
		chromedp.Click("#sign-in-submit"),
		chromedp.WaitNotPresent("#sign-in-submit"),
	}
}
