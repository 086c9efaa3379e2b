package analytics

import "strings"

// Plain-language explanations of verdicts and reason codes for partners (program rule 6:
// flagged traffic is recorded with its reason so partners can see it).
//
// Reason codes are "family:detail". Some details are copied from the request (a
// Sec-Fetch-Dest value, an ad parameter), so the text of an unknown code is the code
// itself and every caller must escape it: html/template does on the dashboard, and CSV
// export neutralises spreadsheet formulas.

var verdictTexts = map[string]string{
	"valid":               "Counted: a person followed your link.",
	"bot":                 "A bot or automated program, not a person.",
	"hidden_frame":        "Loaded invisibly (in a hidden frame, or as an image or script) instead of being clicked.",
	"auto_redirect":       "Arrived through an automatic redirect instead of a click.",
	"popunder":            "Opened in a pop-under or click-under window the visitor did not ask for.",
	"context_ad":          "Came from a contextual ad (Google Ads, AdSense, Yandex.Direct and similar); the program does not count ad traffic.",
	"duplicate":           "A repeat click by the same visitor; the first one already counted.",
	"rate_limited":        "One of too many clicks from the same source in a short time.",
	"unknown_partner":     "The referral ID in the link does not belong to a registered partner.",
	"blocked_partner":     "The partner account was blocked at the time of the click.",
	"self_referral":       "The click came from the partner's own account or device.",
	"unconfirmed_partner": "The partner account's email address was not confirmed at the time of the click; clicks after the confirmation count.",
	"datacenter":          "Came from a data centre's network (a cloud, hosting or VPS provider, or a VPN's servers), where programs run rather than people's browsers.",
}

// VerdictText explains a verdict in a sentence; an unknown verdict reads as itself.
func VerdictText(v string) string {
	if t, ok := verdictTexts[v]; ok {
		return t
	}
	return v
}

// reasonTexts covers the codes docs/traffic-quality.md lists.
var reasonTexts = map[string]string{
	"partner:unknown":          "The referral ID in the link does not belong to a registered partner.",
	"partner:malformed-id":     "The referral ID in the link is not a valid partner ID.",
	"partner:blocked":          "The partner account was blocked at the time of the click.",
	"partner:unconfirmed":      "The partner account's email address was not confirmed at the time of the click; clicks after the confirmation count.",
	"self:partner-visitor":     "The click came from a browser the partner used to sign in to this dashboard.",
	"self:partner":             "The click came from the partner's own account.",
	"ua:crawler":               "The browser identified itself as a search engine crawler, link preview or another bot.",
	"ua:empty":                 "The request carried no browser identification, which real browsers always send.",
	"ua:headless":              "The visit came from an automated (headless) browser.",
	"ua:monitor":               "The visit came from an uptime, synthetic-monitoring or load-testing service, not a person.",
	"ua:transcoder":            "The page was fetched by an ad checker or a page transcoder (such as Google's ad and light-page fetchers), not by a person.",
	"ua:lowercase":             "The browser identification was rewritten in lower case, which browsers never do and tools often do.",
	"ua:khtml-comment":         "A crawler named itself inside an otherwise browser-like identification.",
	"ua:automation":            "The browser identified itself as driven by a test-automation or scraping framework.",
	"ua:payload":               "The browser identification carried an attack payload (a security scanner).",
	"ua:tool-token":            "A script or tool added its own name to a browser's identification.",
	"http:head":                "The request only asked for the page headers, which browsers do not do when a person follows a link.",
	"hdr:no-accept":            "The request lacked the Accept header every browser sends.",
	"hdr:no-accept-language":   "The request lacked the Accept-Language header every browser sends.",
	"hdr:no-fetch-metadata":    "A browser that always sends Fetch Metadata headers sent none: the client only pretends to be that browser.",
	"hdr:no-client-hints":      "A browser that always sends client hints sent none: the client only pretends to be that browser.",
	"fetch:dest=iframe":        "The link was loaded inside a frame on another page instead of being clicked.",
	"fetch:dest=frame":         "The link was loaded inside a frame on another page instead of being clicked.",
	"fetch:dest=image":         "The link was loaded as an image, which happens when it is hidden in a page, not clicked.",
	"fetch:dest=script":        "The link was loaded as a script, which happens when it is hidden in a page, not clicked.",
	"fetch:dest=empty":         "The link was fetched by a script on a page, not opened by a person.",
	"fetch:mode=no-cors":       "The link was fetched by a page in the background, not opened by a person.",
	"fetch:mode=cors":          "The link was fetched by a script on a page, not opened by a person.",
	"fetch:prefetch":           "The browser prefetched the link in advance; nobody opened it.",
	"fetch:no-user-activation": "The page opened without a click or key press: an automatic redirect.",
	"ad:gclid":                 "The visit came from a Google Ads click (gclid); contextual ad traffic does not count.",
	"ad:gbraid":                "The visit came from a Google Ads click (gbraid); contextual ad traffic does not count.",
	"ad:wbraid":                "The visit came from a Google Ads click (wbraid); contextual ad traffic does not count.",
	"ad:yclid":                 "The visit came from a Yandex.Direct ad click (yclid); contextual ad traffic does not count.",
	"ad:msclkid":               "The visit came from a Microsoft Advertising click (msclkid); contextual ad traffic does not count.",
	"rate:ip":                  "Too many clicks came from one network address in a short time.",
	"rate:visitor":             "The same visitor clicked too many times in a short time.",
	"rate:partner":             "Your links received an unusual burst of clicks in a short time.",
	"dup:visitor-partner":      "The same visitor already clicked one of your links a little earlier; that click counted.",
	"beacon:framed":            "The landing page found itself inside a frame on another site.",
	"beacon:tiny":              "The landing page was shown in a window too small to see.",
	"beacon:opener":            "The landing page was opened by a script in a new window (a pop-up or pop-under).",
	"beacon:behind":            "The new window opened behind the one the visitor was using (a pop-under).",
	"beacon:hidden":            "The landing page was never visible on screen.",
	"degraded:redis":           "Recorded while refedge's fraud-check store was unavailable; fewer checks ran on this click.",
	"net:datacenter":           "The click came from a data centre's network (a cloud, hosting or VPS provider, or a VPN's servers), where programs run rather than people's browsers.",
}

// Families explain codes not listed above by their prefix; %s is the detail.
var reasonFamilies = map[string]string{
	"ua":       "The browser identification looks automated (%s).",
	"http":     "The request was not one a browser sends when a person follows a link (%s).",
	"hdr":      "The request's headers do not match the browser it claims to be (%s).",
	"fetch":    "The browser reported the link was not opened by a person's click (%s).",
	"ad":       "The visit came from an ad click or a paid campaign (%s); contextual ad traffic does not count.",
	"partner":  "The referral ID could not be used (%s).",
	"self":     "The click came from the partner's own account or device (%s).",
	"dup":      "A repeat click (%s); the first one already counted.",
	"rate":     "Too many clicks in a short time (%s).",
	"beacon":   "The landing page's visibility check failed (%s).",
	"degraded": "Recorded while part of refedge was unavailable (%s); fewer checks ran on this click.",
	"net":      "The network the click came from (%s).",
}

// ReasonText explains a reason code in a sentence. A code of an unknown family reads as
// the code itself; callers escape it.
func ReasonText(code string) string {
	if t, ok := reasonTexts[code]; ok {
		return t
	}
	family, detail, ok := strings.Cut(code, ":")
	if t, known := reasonFamilies[family]; ok && known && detail != "" {
		return strings.Replace(t, "%s", detail, 1)
	}
	return code
}
