package banners

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"html"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/refcookie"
)

// Banner is one embeddable banner with a partner's codes.
type Banner struct {
	Creative string `json:"creative"`
	Size     string `json:"size"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Alt      string `json:"alt"`
	// ImageURL is the versioned image with ref=: each load counts an impression.
	ImageURL string `json:"image_url"`
	// PreviewURL is the same image without ref=, for showing it without counting.
	PreviewURL string `json:"preview_url"`
	// Link is the referral link the banner points to.
	Link string `json:"link"`
	// HTML is the copy-paste embed code.
	HTML string `json:"html"`
	// PreviewPath is PreviewURL relative to refedge, for refedge's own pages.
	PreviewPath string `json:"-"`
}

// CreativeMaterials are every banner of one creative.
type CreativeMaterials struct {
	ID      string   `json:"id"`
	Alt     string   `json:"alt"`
	Version string   `json:"version"`
	Banners []Banner `json:"banners"`
}

// Materials returns every banner of every creative with partner's codes, in creative
// id order and the program's size order. partner must be a valid partner id.
func (s *Service) Materials(partner string) []CreativeMaterials {
	pub := strings.TrimRight(s.cfg.PublicURL, "/")
	link := strings.TrimRight(s.cfg.LinkBase, "/")
	ref := url.QueryEscape(partner)
	var out []CreativeMaterials
	for _, e := range s.snap.Load().ordered {
		cm := CreativeMaterials{ID: e.c.ID, Alt: e.c.Alt, Version: e.version}
		for _, sz := range Sizes {
			path := "/b/" + e.c.ID + "/" + sz.String() + ".jpg?v=" + e.version
			b := Banner{
				Creative: e.c.ID, Size: sz.String(), Width: sz.W, Height: sz.H, Alt: e.c.Alt,
				ImageURL:    pub + path + "&ref=" + ref,
				PreviewURL:  pub + path,
				Link:        link + "/?ref=" + ref + "&src=banner&cr=" + e.c.ID + "-" + sz.String(),
				PreviewPath: path,
			}
			// Attribute values are escaped (& becomes &amp;): the code is valid HTML
			// wherever it is pasted, and an alt text cannot break out of its quotes.
			b.HTML = `<a href="` + html.EscapeString(b.Link) + `" rel="sponsored"><img src="` + html.EscapeString(b.ImageURL) +
				`" width="` + strconv.Itoa(sz.W) + `" height="` + strconv.Itoa(sz.H) + `" alt="` + html.EscapeString(b.Alt) + `"></a>`
			cm.Banners = append(cm.Banners, b)
		}
		out = append(out, cm)
	}
	return out
}

//go:embed materials.html
var materialsFS embed.FS

var materialsTmpl = partnerui.MustParse(materialsFS, "materials.html")

type materialsPage struct {
	UI partnerui.UI
	// Ref is the partner id typed by a visitor who is not signed in.
	Ref       string
	Error     string
	Creatives []CreativeMaterials
}

// serveMaterials renders GET /b/materials: every banner with its size and embed code
// for the signed-in partner (a partner app page), or, signed out, for the partner id
// in ?ref= (without it the page asks for the id).
func (s *Service) serveMaterials(ctx *fasthttp.RequestCtx) {
	partner := ""
	if s.cfg.Auth != nil {
		p, err := s.cfg.Auth.Authenticate(ctx)
		switch {
		case err == nil:
			partner = p.PartnerID
		case !errors.Is(err, partnerapi.ErrUnauthenticated):
			s.log.Warn("materials page authentication failed", "err", err)
		}
	}
	p := materialsPage{UI: partnerui.New(ctx, partnerui.PageMaterials, partner)}
	code := fasthttp.StatusOK
	ref := ctx.QueryArgs().Peek("ref")
	switch {
	case partner != "":
		p.Creatives = s.Materials(partner)
	case len(ref) == 0:
	case !refcookie.ValidPartnerID(ref):
		code = fasthttp.StatusBadRequest
		p.Error = p.UI.T("materials.bad_id")
	default:
		p.Ref = string(ref)
		p.Creatives = s.Materials(p.Ref)
	}
	var buf bytes.Buffer
	if err := materialsTmpl.ExecuteTemplate(&buf, "materials.html", &p); err != nil {
		s.log.Error("cannot render the materials page", "err", err)
		plain(ctx, fasthttp.StatusInternalServerError, []byte("cannot render the page\n"))
		return
	}
	partnerui.SetHeaders(ctx, p.UI.Nonce, "'nonce-"+p.UI.Nonce+"'", s.cfg.PublicURL)
	// Signed out, the page is the same for every visitor of a ref and language.
	if partner == "" {
		ctx.Response.Header.Set("Cache-Control", "no-cache")
	}
	ctx.SetStatusCode(code)
	ctx.SetBody(buf.Bytes())
}

// RegisterAPI adds GET /api/v1/banners to the partner API: the authenticated partner's
// banners and embed codes as JSON, or CSV with Accept: text/csv.
func (s *Service) RegisterAPI(r *partnerapi.Router) {
	r.Handle(fasthttp.MethodGet, "/api/v1/banners", s.apiBanners)
}

func (s *Service) apiBanners(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
	ms := s.Materials(p.PartnerID)
	if partnerapi.WantsCSV(ctx) {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{"creative", "size", "width", "height", "image_url", "link", "html"})
		for _, c := range ms {
			for _, b := range c.Banners {
				_ = w.Write([]string{b.Creative, b.Size, strconv.Itoa(b.Width), strconv.Itoa(b.Height), b.ImageURL, b.Link, b.HTML})
			}
		}
		w.Flush()
		ctx.SetContentType("text/csv; charset=utf-8")
		ctx.Response.Header.Set("Content-Disposition", `attachment; filename="banners.csv"`)
		ctx.SetBody(buf.Bytes())
		return
	}
	partnerapi.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{
		"partner_id":    p.PartnerID,
		"materials_url": strings.TrimRight(s.cfg.PublicURL, "/") + "/b/materials?ref=" + url.QueryEscape(p.PartnerID),
		"creatives":     ms,
	})
}

// creativeInfo describes a creative for the admin API.
type creativeInfo struct {
	ID      string       `json:"id"`
	Alt     string       `json:"alt"`
	Origin  string       `json:"origin"`
	Version string       `json:"version"`
	Masters []masterInfo `json:"masters"`
	Banners []bannerInfo `json:"banners"`
}

type masterInfo struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Frame
}

type bannerInfo struct {
	Size   string `json:"size"`
	URL    string `json:"url"`
	Master string `json:"master"`
	Bytes  int    `json:"bytes"` // 0 until rendered
}

func (s *Service) describe(e *entry) creativeInfo {
	ci := creativeInfo{ID: e.c.ID, Alt: e.c.Alt, Origin: e.c.Origin, Version: e.version}
	for _, m := range e.c.Masters {
		ci.Masters = append(ci.Masters, masterInfo{Name: m.Name, Width: m.W, Height: m.H, Frame: m.Frame})
	}
	pub := strings.TrimRight(s.cfg.PublicURL, "/")
	for si, sz := range Sizes {
		b := bannerInfo{Size: sz.String(), URL: pub + "/b/" + e.c.ID + "/" + sz.String() + ".jpg?v=" + e.version, Master: e.c.Masters[e.pick[si]].Name}
		if r := e.out[si].Load(); r != nil {
			b.Bytes = len(r.body)
		}
		ci.Banners = append(ci.Banners, b)
	}
	return ci
}
