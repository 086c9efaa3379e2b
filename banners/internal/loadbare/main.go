// Command loadbare measures the banner handler against a bare fasthttp handler that
// writes the same bytes, on loopback, with wrk.
//
// It starts two servers in this process — bare and banner, same fasthttp settings as
// cmd/refedge — fetches one cached banner, and serves exactly those bytes from the bare
// handler. With -wrk it then runs wrk against each in turn (-rounds pairs, alternating
// which goes first) and prints requests per second and the ratio; without it, it serves
// until interrupted so wrk can be run by hand:
//
//	go run ./banners/internal/loadbare -wrk
//	go run ./banners/internal/loadbare &   # then: wrk -t2 -c64 -d10s <printed URLs>
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/banners"
)

func main() {
	bareAddr := flag.String("bare", "127.0.0.1:0", "bare handler address (0: any free port)")
	bannerAddr := flag.String("banner", "127.0.0.1:0", "banner handler address (0: any free port)")
	runWrk := flag.Bool("wrk", false, "run wrk against both and print the ratio")
	threads := flag.Int("t", 2, "wrk threads")
	conns := flag.Int("c", 64, "wrk connections")
	dur := flag.Duration("d", 10*time.Second, "wrk duration per run")
	rounds := flag.Int("rounds", 1, "bare/banner pairs to run")
	ref := flag.Bool("ref", false, "also measure ?ref= loads (impressions handed to a discarding queue)")
	together := flag.Bool("together", false, "run the two wrk at the same time (each with half the threads and connections): both meet the same machine load")
	flag.Parse()

	cache, err := os.MkdirTemp("", "loadbare-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cache)
	bannerLn := listen(*bannerAddr)
	cfg := banners.NewDefaultConfig()
	cfg.PublicURL, cfg.LinkBase = "http://"+bannerLn.Addr().String(), "https://market.example"
	cfg.MasterDir, cfg.CacheDir = "", cache
	cfg.Logger = slog.New(slog.DiscardHandler)
	q := pipeline.New[*event.Impression](pipeline.Config{Name: "loadbare"}, event.ReleaseImpression)
	svc, err := banners.New(cfg, q)
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.WaitWarm(context.Background()); err != nil {
		log.Fatal(err)
	}
	b := svc.Materials("load")[1].Banners[6] // services 300x250
	path := b.PreviewURL[len(cfg.PublicURL):]

	bannerURL := cfg.PublicURL + path
	serve(bannerLn, svc.ServeHTTP)
	status, body, err := fasthttp.Get(nil, bannerURL)
	if err != nil || status != 200 {
		log.Fatalf("GET %s: %d %v", bannerURL, status, err)
	}
	bareLn := listen(*bareAddr)
	serve(bareLn, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("image/jpeg")
		ctx.Response.SetBodyRaw(body)
	})
	bareURL := "http://" + bareLn.Addr().String() + path
	fmt.Printf("serving %d bytes\n  bare:   %s\n  banner: %s\n", len(body), bareURL, bannerURL)
	if *ref {
		fmt.Printf("  ref:    %s&ref=load-test\n", bannerURL)
	}

	if !*runWrk {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		return
	}
	var bareSum, bannerSum, refSum, bareCPU, bannerCPU float64
	if *together {
		t, c := max(1, *threads/2), max(1, *conns/2)
		for r := 1; r <= *rounds; r++ {
			done := make(chan float64)
			go func() { done <- wrk(bareURL, t, c, *dur) }()
			banner := wrk(bannerURL, t, c, *dur)
			bare := <-done
			bareSum += bare
			bannerSum += banner
			fmt.Printf("round %d (together, 2 x wrk -t%d -c%d): bare %.0f req/s, banner %.0f req/s, ratio %.3f\n", r, t, c, bare, banner, banner/bare)
		}
		fmt.Printf("together: banner/bare = %.3f\n", bannerSum/bareSum)
		return
	}
	for r := 1; r <= *rounds; r++ {
		// Alternate which goes first, so neither always meets the machine warmer.
		var bare, banner, bc, nc float64
		if r%2 == 1 {
			bare, bc = wrk(bareURL, *threads, *conns, *dur), cpuPerReq
			banner, nc = wrk(bannerURL, *threads, *conns, *dur), cpuPerReq
		} else {
			banner, nc = wrk(bannerURL, *threads, *conns, *dur), cpuPerReq
			bare, bc = wrk(bareURL, *threads, *conns, *dur), cpuPerReq
		}
		bareSum += bare
		bannerSum += banner
		bareCPU += bc
		bannerCPU += nc
		fmt.Printf("round %d: bare %.0f req/s (%.1f µs server CPU/req), banner %.0f req/s (%.1f µs), ratio %.3f\n", r, bare, bc, banner, nc, banner/bare)
		if *ref {
			rs := wrk(bannerURL+"&ref=load-test", *threads, *conns, *dur)
			refSum += rs
			fmt.Printf("round %d: banner with ref= %.0f req/s (%.1f µs), ratio %.3f\n", r, rs, cpuPerReq, rs/bare)
		}
	}
	fmt.Printf("wrk -t%d -c%d -d%s: banner/bare = %.3f req/s; server CPU per request banner/bare = %.3f", *threads, *conns, *dur, bannerSum/bareSum, bannerCPU/bareCPU)
	if *ref {
		fmt.Printf("; with ref= %.3f req/s of bare", refSum/bareSum)
	}
	fmt.Println()
}

func listen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

// serve serves h on ln with cmd/refedge's public-listener settings.
func serve(ln net.Listener, h fasthttp.RequestHandler) {
	srv := &fasthttp.Server{
		Handler: h, Name: "refedge", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second, MaxRequestBodySize: 1 << 20, ReadBufferSize: 8192,
		NoDefaultServerHeader: true, NoDefaultContentType: true,
	}
	go func() { log.Fatal(srv.Serve(ln)) }()
}

var rps = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// cpuPerReq is the server CPU (this process) per request of the last wrk run, in µs.
var cpuPerReq float64

func wrk(url string, t, c int, d time.Duration) float64 {
	cpu0 := cpuTime()
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(t), "-c"+strconv.Itoa(c), "-d"+d.String(), url).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	m := rps.FindSubmatch(out)
	if m == nil {
		log.Fatalf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	cpuPerReq = float64((cpuTime() - cpu0).Microseconds()) / (v * d.Seconds())
	return v
}

// cpuTime is this process's user and system CPU time: the servers', not wrk's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
