package tracker

import (
	"errors"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
)

// maxLinkBody bounds a POST /api/v1/links body.
const maxLinkBody = 8 << 10

// LinkRequest is the body of POST /api/v1/links.
type LinkRequest struct {
	// URL is a page on the marketplace origin.
	URL string `json:"url"`
	// Sub is an optional sub-id the partner uses to tell placements apart.
	Sub string `json:"sub,omitempty"`
	// Src is an optional source for Link: "qr" or "share-<network>"; "" or "link" add none.
	Src string `json:"src,omitempty"`
}

// LinkResponse is the answer of POST /api/v1/links.
type LinkResponse struct {
	// Link is the referral link; the QR codes encode exactly this text.
	Link string `json:"link"`
	// QRPNG is a PNG of Link's QR code as a data: URL.
	QRPNG string `json:"qr_png"`
	// QRSVG is an SVG document of the same QR code.
	QRSVG string `json:"qr_svg"`
	// Share maps each network in ShareNetworks to the URL of its share dialog, which
	// posts ShareLinks[network].
	Share map[string]string `json:"share"`
	// ShareLinks maps each network to the referral link the share dialog posts: Link with
	// src=share-<network> (so the dashboard's source breakdown tells channels apart).
	ShareLinks map[string]string `json:"share_links"`
}

// Register adds POST /api/v1/links to the partner API router.
func (l *Links) Register(r *partnerapi.Router) {
	r.Handle(fasthttp.MethodPost, "/api/v1/links", l.HandleCreate)
}

// HandleCreate answers POST /api/v1/links for the authenticated partner.
func (l *Links) HandleCreate(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	var req LinkRequest
	if !partnerapi.DecodeJSON(ctx, &req, maxLinkBody) {
		return
	}
	resp, err := l.Create(p.PartnerID, req)
	if err != nil {
		var le *LinkError
		// In the language the request asks for (the link builder page's, through its
		// cookie or Accept-Language); English for an API client that names none.
		c := i18n.FromRequest(ctx)
		if errors.As(err, &le) {
			partnerapi.Error(ctx, le.Status, le.Text(c))
			return
		}
		l.log.Error("cannot build a referral link", "partner", p.PartnerID, "err", err)
		partnerapi.Error(ctx, fasthttp.StatusInternalServerError, c.T("links.err.internal"))
		return
	}
	partnerapi.WriteJSON(ctx, fasthttp.StatusOK, resp)
}

// Create builds the link, its QR codes and share links for partner.
func (l *Links) Create(partner string, req LinkRequest) (*LinkResponse, error) {
	link, err := l.Build(partner, req.URL, req.Sub, req.Src)
	if err != nil {
		return nil, err
	}
	m, err := encodeQR(link)
	if err != nil {
		return nil, err
	}
	resp := &LinkResponse{Link: link, QRSVG: m.svg(), Share: map[string]string{}, ShareLinks: map[string]string{}}
	if resp.QRPNG, err = m.pngDataURL(l.cfg.QRModulePixels); err != nil {
		return nil, err
	}
	// Share links carry their own src, replacing one the request asked for.
	plain, err := l.Build(partner, req.URL, req.Sub, "")
	if err != nil {
		return nil, err
	}
	for _, n := range ShareNetworks {
		sl := withSource(plain, SourceSharePrefix+n)
		resp.ShareLinks[n] = sl
		resp.Share[n] = ShareURL(n, sl)
	}
	return resp, nil
}

// ShareURL returns the share-dialog URL of network for link; "" for an unknown network.
// The dialogs are the networks' documented public endpoints; none needs an app id.
func ShareURL(network, link string) string {
	q := url.QueryEscape(link)
	switch network {
	case "vk":
		return "https://vk.com/share.php?url=" + q
	case "telegram":
		return "https://t.me/share/url?url=" + q
	case "whatsapp":
		return "https://wa.me/?text=" + q
	case "x":
		return "https://x.com/intent/tweet?url=" + q
	case "facebook":
		return "https://www.facebook.com/sharer/sharer.php?u=" + q
	case "email":
		// RFC 6068: percent-encoding, where '+' is a plus sign, not a space.
		return "mailto:?body=" + strings.ReplaceAll(q, "+", "%20")
	}
	return ""
}
