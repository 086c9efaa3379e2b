package i18n

import (
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/text/language"
)

var matcher = language.NewMatcher([]language.Tag{language.English, language.Russian})

// Negotiate picks the language of a request: a supported remembered choice (the
// Cookie's value) first, else the best match of Accept-Language, else Default.
func Negotiate(remembered, acceptLanguage string) string {
	if Supported(remembered) {
		return remembered
	}
	if acceptLanguage == "" {
		return Default
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return Default
	}
	return Languages[i]
}

// Supported reports whether lang is one of Languages.
func Supported(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// FromRequest is the catalogue of ctx's language (Negotiate on its rfe_lang cookie and
// Accept-Language). Pages that use it answer with Vary: Cookie, Accept-Language.
func FromRequest(ctx *fasthttp.RequestCtx) *Catalogue {
	return For(Negotiate(string(ctx.Request.Header.Cookie(Cookie)), string(ctx.Request.Header.Peek("Accept-Language"))))
}

// Remember sets the Cookie to lang (a supported language) for a year.
func Remember(ctx *fasthttp.RequestCtx, lang string) {
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(Cookie)
	ck.SetValue(lang)
	ck.SetPath("/")
	ck.SetMaxAge(int(365 * 24 * time.Hour / time.Second))
	ck.SetHTTPOnly(true)
	ck.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	ctx.Response.Header.SetCookie(ck)
}
