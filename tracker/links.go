package tracker

// The link builder (docs/partner-tools.md): a partner pastes a marketplace URL and gets
// their referral link, share links and a QR code. The pasted URL is only ever parsed,
// never fetched (no SSRF), and it must name exactly the marketplace origin; the link is
// then rebuilt from configuration (LinkBase) plus the pasted path and query escaped by the
// same rules as the click redirect (appendLocation), so a link can name no other host
// whatever was pasted, and clicking it redirects to the page the partner pasted.

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/refcookie"
)

// EnvLinkBase names the optional variable that sets LinksConfig.LinkBase.
const EnvLinkBase = "REFEDGE_LINK_BASE"

// LinksConfig configures the link builder. Zero limits take the defaults written on
// their fields; MarketOrigin is required.
type LinksConfig struct {
	// MarketOrigin is the marketplace origin, "scheme://host[:port]"
	// (REFEDGE_MARKET_ORIGIN): a pasted URL must name exactly this origin.
	MarketOrigin string
	// LinkBase is the origin built links point at; "" means MarketOrigin, where the
	// front proxy sends every request carrying ref= to refedge. Set refedge's own URL
	// where no such proxy exists (development). REFEDGE_LINK_BASE.
	LinkBase string
	// MaxURLLen bounds the pasted URL in bytes; 0 means 2048.
	MaxURLLen int
	// MaxLinkLen bounds a built link in bytes (it must fit a QR code and a share URL);
	// 0 means 1800.
	MaxLinkLen int
	// QRModulePixels is the PNG's pixels per QR module; 0 means 8.
	QRModulePixels int
	// Auth authenticates the /partner/links page; required by PartnerPages (the API
	// gets its partner from partnerapi.Router).
	Auth *partnerapi.Auth
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
}

// NewDefaultLinksConfig returns a config with every default filled in (origins empty).
func NewDefaultLinksConfig() LinksConfig {
	var c LinksConfig
	c.defaults()
	return c
}

func (c *LinksConfig) defaults() {
	if c.LinkBase == "" {
		c.LinkBase = c.MarketOrigin
	}
	if c.MaxURLLen <= 0 {
		c.MaxURLLen = 2048
	}
	if c.MaxLinkLen <= 0 {
		c.MaxLinkLen = 1800
	}
	if c.QRModulePixels <= 0 {
		c.QRModulePixels = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// LinkVars are the link builder's optional variables; LoadEnv reads them.
var LinkVars = envvar.Table[LinksConfig]{Part: "links", Vars: []envvar.Var[LinksConfig]{
	{Name: EnvLinkBase, Default: "", Help: "base of links the link builder makes; empty: the market origin (REFEDGE_PUBLIC_URL in dev)", Set: func(c *LinksConfig, v string) error {
		if _, err := parseLinkOrigin(v); err != nil {
			return err
		}
		c.LinkBase = v
		return nil
	}},
}}

// LoadEnv reads the link builder's variables that are set into c; each message names
// its variable.
func (c *LinksConfig) LoadEnv(getenv func(string) string) error { return LinkVars.Load(c, getenv) }

// Validate reports every problem, naming the variable.
func (c *LinksConfig) Validate() error {
	var errs []error
	if _, err := parseLinkOrigin(c.MarketOrigin); err != nil {
		errs = append(errs, fmt.Errorf("links: REFEDGE_MARKET_ORIGIN: %w", err))
	}
	if c.LinkBase != "" {
		if _, err := parseLinkOrigin(c.LinkBase); err != nil {
			errs = append(errs, fmt.Errorf("links: %s: %w", EnvLinkBase, err))
		}
	}
	if c.MaxURLLen > MaxPathLen+MaxQueryLen+512 {
		errs = append(errs, fmt.Errorf("links: MaxURLLen above %d", MaxPathLen+MaxQueryLen+512))
	}
	if c.MaxLinkLen > 2900 {
		// Byte-mode QR version 40 at level M holds 2331 bytes; share URLs add more.
		errs = append(errs, errors.New("links: MaxLinkLen above 2900 does not fit a QR code"))
	}
	return errors.Join(errs...)
}

// linkOrigin is a normalised origin: lower-case scheme and host, default port dropped.
type linkOrigin struct {
	scheme string // "https"
	host   string // "market.example" or "market.example:8443"
}

func (o linkOrigin) String() string { return o.scheme + "://" + o.host }

// parseLinkOrigin reads "scheme://host[:port]" with no path, query or credentials.
func parseLinkOrigin(v string) (linkOrigin, error) {
	u, err := url.Parse(v)
	if err != nil {
		return linkOrigin{}, errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return linkOrigin{}, errors.New("want scheme://host[:port] with no path, query or credentials")
	}
	host := bracketed(strings.ToLower(u.Hostname()))
	if port := u.Port(); port != "" && port != defaultPort(u.Scheme) {
		host += ":" + port
	}
	return linkOrigin{scheme: u.Scheme, host: host}, nil
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// Links builds referral links; see docs/partner-tools.md.
type Links struct {
	cfg    LinksConfig
	market linkOrigin
	base   string // LinkBase, normalised
	page   *linksPage
	log    *slog.Logger
}

// NewLinks validates cfg and returns the link builder.
func NewLinks(cfg LinksConfig) (*Links, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	market, _ := parseLinkOrigin(cfg.MarketOrigin)
	base, _ := parseLinkOrigin(cfg.LinkBase)
	l := &Links{cfg: cfg, market: market, base: base.String(), log: cfg.Logger}
	page, err := newLinksPage()
	if err != nil {
		return nil, err
	}
	l.page = page
	return l, nil
}

// LinkError is a refused link request: Status is the HTTP status, Msg the text shown to
// the partner in English (it names the field). Its words are the message catalogue's
// (Key with Args as name, value pairs; why, when set, fills {what} with the detail), so
// Text gives the same message in another language.
type LinkError struct {
	Status int
	Msg    string
	Key    string
	Args   []any
	why    *LinkError
}

func (e *LinkError) Error() string { return e.Msg }

// Text is the message in c's language.
func (e *LinkError) Text(c *i18n.Catalogue) string {
	args := e.Args
	if e.why != nil {
		args = append(append([]any{}, args...), "what", e.why.Text(c))
	}
	return c.T(e.Key, args...)
}

func badLink(status int, key string, args ...any) *LinkError {
	e := &LinkError{Status: status, Key: key, Args: args}
	e.Msg = e.Text(i18n.For("en"))
	return e
}

const (
	statusBad     = 400 // malformed field
	statusRefused = 422 // understood, refused: not on the marketplace origin, too long
)

// Share networks, in the order pages list them, and the link sources the builder writes.
var ShareNetworks = []string{"vk", "telegram", "whatsapp", "x", "facebook", "email"}

// Sources a built link may carry in src= besides the tracker's default "link".
const (
	SourceQR          = "qr"
	SourceSharePrefix = "share-"
)

// LinkSource reports whether src is a source the link builder writes beyond the
// tracker's own link, widget and banner: "qr" or "share-<network>" for a network in
// ShareNetworks. The click handler keeps such a value as the click's source so the
// dashboard can tell channels apart. It does not allocate.
func LinkSource(src []byte) bool {
	switch string(src) {
	case SourceQR, "share-vk", "share-telegram", "share-whatsapp", "share-x", "share-facebook", "share-email":
		return true
	}
	return false
}

// validSub reports whether s is an acceptable sub-id: 1..64 of [0-9A-Za-z._~-], the
// URL-unreserved characters, so it needs no escaping and reads the same everywhere.
func validSub(s string) bool {
	if len(s) == 0 || len(s) > maxSubLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// Build returns partner's referral link for rawURL, a page on the marketplace origin,
// with optional sub-id and source (see LinkSource; "" or "link" add none).
func (l *Links) Build(partner, rawURL, sub, src string) (string, error) {
	if !refcookie.ValidPartnerID([]byte(partner)) {
		return "", badLink(statusBad, "links.err.partner")
	}
	if sub != "" && !validSub(sub) {
		return "", badLink(statusBad, "links.err.sub", "max", maxSubLen)
	}
	if src == "link" {
		src = ""
	}
	if src != "" && !LinkSource([]byte(src)) {
		return "", badLink(statusBad, "links.err.src", "networks", strings.Join(ShareNetworks, ", "))
	}
	path, query, err := l.split(rawURL)
	if err != nil {
		return "", err
	}
	b := appendLocation(make([]byte, 0, len(l.base)+len(path)+len(query)+96), l.base, []byte(path), []byte(query))
	b = l.appendParams(b, partner, sub, src)
	if len(b) > l.cfg.MaxLinkLen {
		return "", badLink(statusRefused, "links.err.too_long_link", "len", len(b), "max", l.cfg.MaxLinkLen)
	}
	return string(b), nil
}

// appendParams appends ref, then sub and src when set, to a location built by
// appendLocation (which never leaves a trailing '?').
func (l *Links) appendParams(b []byte, partner, sub, src string) []byte {
	if strings.IndexByte(string(b[len(l.base):]), '?') >= 0 {
		b = append(b, '&')
	} else {
		b = append(b, '?')
	}
	b = append(append(b, "ref="...), partner...)
	if sub != "" {
		b = append(append(b, "&sub="...), sub...)
	}
	if src != "" {
		b = append(append(b, "&src="...), src...)
	}
	return b
}

// withSource returns link (built without src) with src appended.
func withSource(link, src string) string { return link + "&src=" + src }

// split checks that raw is an absolute URL on the marketplace origin and returns its
// raw path and query (fragment dropped). Two parsers must agree: the split below, which
// reads the authority the way a browser does for http(s), and net/url.
func (l *Links) split(raw string) (path, query string, err error) {
	origin := l.market.String()
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", badLink(statusBad, "links.err.empty", "origin", origin)
	}
	if len(raw) > l.cfg.MaxURLLen {
		return "", "", badLink(statusRefused, "links.err.too_long_url", "max", l.cfg.MaxURLLen)
	}
	if !utf8.ValidString(raw) {
		return "", "", badLink(statusBad, "links.err.utf8")
	}
	for _, r := range raw {
		switch {
		case r == '\\':
			// Browsers read '\' as '/' in http(s) URLs, so "https://market.example\@evil"
			// means different things to different parsers.
			return "", "", badLink(statusRefused, "links.err.backslash")
		case r == ' ':
			// Allowed in the path and query, where the link escapes it; refused below
			// in the authority.
		case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return "", "", badLink(statusRefused, "links.err.control")
		}
	}
	notOurs := func(whyKey string, whyArgs ...any) error {
		e := badLink(statusRefused, "links.err.not_ours", "origin", origin)
		e.why = badLink(statusRefused, whyKey, whyArgs...)
		e.Msg = e.Text(i18n.For("en"))
		return e
	}
	if strings.HasPrefix(raw, "//") {
		return "", "", notOurs("links.why.double_slash")
	}
	i := strings.Index(raw, "://")
	if i <= 0 || !validScheme(raw[:i]) {
		if j := strings.IndexByte(raw, ':'); j > 0 && validScheme(raw[:j]) {
			if s := strings.ToLower(raw[:j]); s != "http" && s != "https" {
				return "", "", notOurs("links.why.scheme", "scheme", s)
			}
		}
		return "", "", notOurs("links.why.full", "origin", origin)
	}
	scheme := strings.ToLower(raw[:i])
	if scheme != l.market.scheme {
		return "", "", notOurs("links.why.wrong_scheme", "scheme", scheme, "want", l.market.scheme)
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if strings.ContainsRune(authority, ' ') {
		return "", "", notOurs("links.why.host_spaces")
	}
	if strings.ContainsRune(authority, '@') {
		return "", "", notOurs("links.why.userinfo")
	}
	host, port := authority, ""
	if c := strings.LastIndexByte(authority, ':'); c >= 0 && !strings.Contains(authority[c:], "]") {
		host, port = authority[:c], authority[c+1:]
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return "", "", notOurs("links.why.port_number")
		}
		port = strings.TrimLeft(port, "0")
	}
	for j := 0; j < len(host); j++ {
		if host[j] >= utf8.RuneSelf || host[j] == '%' {
			return "", "", notOurs("links.why.lookalike", "host", hostOnly(l.market.host))
		}
	}
	hostport := strings.ToLower(host)
	if port != "" && port != defaultPort(scheme) {
		hostport += ":" + port
	}
	if hostport != l.market.host {
		if strings.ToLower(host) == hostOnly(l.market.host) {
			return "", "", notOurs("links.why.port", "port", port)
		}
		return "", "", notOurs("links.why.other_site", "host", strings.ToLower(authority))
	}
	tail := rest[end:]
	if j := strings.IndexByte(tail, '#'); j >= 0 {
		tail = tail[:j]
	}
	path, query, _ = strings.Cut(tail, "?")
	// The second parser: an authority net/url reads differently is refused too. (Only the
	// authority: net/url refuses a stray '%' in a path, which the redirect escapes.)
	u, perr := url.Parse(raw[:i+3+end] + "/")
	if perr != nil || u.Opaque != "" || u.User != nil || strings.ToLower(u.Scheme) != scheme ||
		bracketed(strings.ToLower(u.Hostname())) != hostOnly(l.market.host) || !samePort(u.Port(), port, scheme) {
		return "", "", notOurs("links.why.ambiguous")
	}
	if len(path) > MaxPathLen {
		return "", "", badLink(statusRefused, "links.err.path_long", "max", MaxPathLen)
	}
	if len(query) > MaxQueryLen {
		return "", "", badLink(statusRefused, "links.err.query_long", "max", MaxQueryLen)
	}
	return path, query, nil
}

func samePort(a, b, scheme string) bool {
	a = strings.TrimLeft(a, "0")
	if a == defaultPort(scheme) {
		a = ""
	}
	if b == defaultPort(scheme) {
		b = ""
	}
	return a == b
}

// bracketed puts an IPv6 literal in brackets, as it appears in a URL.
func bracketed(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// hostOnly strips a port from host[:port].
func hostOnly(hostport string) string {
	if c := strings.LastIndexByte(hostport, ':'); c >= 0 && !strings.Contains(hostport[c:], "]") {
		return hostport[:c]
	}
	return hostport
}

// validScheme reports whether s is an RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / + - . ).
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return true
}
