package tracker

import "github.com/valyala/fasthttp"

// Bare302Handler is the performance baseline the click path is measured against: a
// fasthttp handler that answers 302 to location with one cookie and does nothing else.
func Bare302Handler(location string) fasthttp.RequestHandler {
	cookie := []byte("rfe_vid=AAAAAAAAAAAAAAAAAAAAAA; max-age=34560000; path=/; HttpOnly; secure; SameSite=Lax")
	loc := []byte(location)
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetBytesV("Location", loc)
		ctx.Response.Header.SetBytesV("Set-Cookie", cookie)
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.SetStatusCode(fasthttp.StatusFound)
	}
}
