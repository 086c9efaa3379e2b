// Command bare302 is the load harness's baseline: a fasthttp server that answers every
// request with a 302 and one cookie, using the same server settings as refedge's
// public listener. The click path is reported as a ratio of its throughput.
package main

import (
	"flag"
	"log"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/tracker"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler:               tracker.Bare302Handler("https://market.example/categories/design"),
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	log.Printf("bare302 listening on %s", ln.Addr())
	log.Fatal(srv.Serve(ln))
}
