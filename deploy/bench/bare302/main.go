// Command bare302 is the load harness's baseline: a fasthttp server that answers every
// request with a 302 and one cookie, using the same server settings as refedge's
// public listener. The click path is reported as a ratio of its throughput.
//
// With -body it answers 200 with that file's bytes instead (Content-Type and body,
// nothing else): the baseline for cached banners, which serve the same bytes.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/tracker"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	bodyFile := flag.String("body", "", "answer 200 with this file's bytes instead of the 302")
	ctype := flag.String("type", "image/jpeg", "Content-Type of the -body answers")
	flag.Parse()
	handler := tracker.Bare302Handler("https://market.example/categories/design")
	if *bodyFile != "" {
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			log.Fatal(err)
		}
		ct := []byte(*ctype)
		handler = func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentTypeBytes(ct)
			ctx.Response.SetBodyRaw(body)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler:               handler,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	log.Printf("bare302 listening on %s", ln.Addr())
	log.Fatal(srv.Serve(ln))
}
