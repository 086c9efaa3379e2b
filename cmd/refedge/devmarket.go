package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/refedge/refedge/internal/devmarket"
)

// devMarket runs the development marketplace stub on REFEDGE_DEV_MARKET_ADDR
// (default 127.0.0.1:8090); REFEDGE_PUBLIC_URL tells it where refedge's /v.js is.
func devMarket(getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var dev devConfig
	_ = devVars.Load(&dev, getenv) // string variables cannot be malformed
	addr := dev.MarketAddr
	beacon := ""
	if pub := getenv("REFEDGE_PUBLIC_URL"); pub != "" {
		beacon = pub + "/v.js"
	}
	srv := &http.Server{Addr: addr, Handler: devmarket.Handler(beacon), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("marketplace stub listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(stderr, "refedge dev-market: REFEDGE_DEV_MARKET_ADDR: %v\n", err)
		return 1
	}
	return 0
}
