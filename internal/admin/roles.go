package admin

import (
	"fmt"
	"maps"
)

// Role is what a route requires of its caller, and what a credential grants.
type Role int

const (
	// RoleOpen routes answer anyone: probes, Prometheus, the sign-in page.
	RoleOpen Role = iota
	// RoleViewer routes read: the review console and the read-only admin GETs.
	RoleViewer
	// RoleAdmin routes change state, mint partner credentials or profile the process.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleOpen:
		return "open"
	case RoleViewer:
		return "viewer"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// routeRoles is the role of every pattern the admin listener serves, in one place so a
// review of who may do what reads one table. Server.Handle refuses (panics on) a
// pattern missing here: a new route is closed to everyone until it is given a role.
var routeRoles = map[string]Role{
	// internal/admin: probes and Prometheus stay open; pprof exposes memory contents
	// and can stall the process, so it is an admin's.
	"GET /healthz":         RoleOpen,
	"GET /readyz":          RoleOpen,
	"GET /metrics":         RoleOpen,
	"/debug/pprof/":        RoleAdmin,
	"/debug/pprof/cmdline": RoleAdmin,
	"/debug/pprof/profile": RoleAdmin,
	"/debug/pprof/symbol":  RoleAdmin,
	"/debug/pprof/trace":   RoleAdmin,
	"GET " + SignInPath:    RoleOpen,
	"POST " + SignInPath:   RoleOpen,
	"POST " + SignOutPath:  RoleOpen,
	"GET /admin/v1/whoami": RoleViewer,

	// internal/partners
	"PUT /admin/v1/partners/{id}": RoleAdmin,
	"GET /admin/v1/partners/{id}": RoleViewer,

	// internal/partnerapi: partner credentials
	"POST /admin/v1/partners/{id}/tokens":      RoleAdmin,
	"GET /admin/v1/partners/{id}/tokens":       RoleViewer,
	"DELETE /admin/v1/tokens/{token_id}":       RoleAdmin,
	"POST /admin/v1/partners/{id}/login-links": RoleAdmin,

	// tracker: explains a click's verdict from the inputs given; reads only.
	"POST /admin/v1/classify": RoleViewer,

	// widget: the kwork catalog
	"PUT /admin/v1/kworks/{id}":       RoleAdmin,
	"GET /admin/v1/kworks/{id}":       RoleViewer,
	"PUT /admin/v1/kworks/{id}/image": RoleAdmin,

	// banners: creatives
	"GET /admin/v1/creatives":                     RoleViewer,
	"PUT /admin/v1/creatives/{id}":                RoleAdmin,
	"PUT /admin/v1/creatives/{id}/masters/{name}": RoleAdmin,
	"DELETE /admin/v1/creatives/{id}":             RoleAdmin,

	// attribution: the operator review and the ledger's decisions
	"GET /admin/v1/review":                RoleViewer,
	"GET /admin/v1/review/{partner}":      RoleViewer,
	"GET /admin/review":                   RoleViewer,
	"GET /admin/review/{partner}":         RoleViewer,
	"GET /admin/review/static/{name}":     RoleViewer,
	"GET /admin/v1/orders/{id}/decisions": RoleViewer,
	"GET /admin/v1/referrals/{id}":        RoleViewer,
	"GET /admin/{$}":                      RoleViewer, // the console's start: the ranking
	"GET /admin/lookup":                   RoleViewer,
	"GET /admin/orders/{id}":              RoleViewer,
	"GET /admin/referrals/{id}":           RoleViewer,
	"GET /admin/audit/{partner}":          RoleViewer,
}

// RouteRoles returns a copy of the route table: pattern to role.
func RouteRoles() map[string]Role { return maps.Clone(routeRoles) }

// RoleOf returns the role pattern is declared with, and whether it is declared.
func RoleOf(pattern string) (Role, bool) {
	r, ok := routeRoles[pattern]
	return r, ok
}
