package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/ipintel"
)

// openGeo loads the IP databases REFEDGE_GEO_* name and reloads them on SIGHUP or when
// a file changes until ctx ends. Without databases the edge runs without the network
// step and says so once in the log (and on /readyz: geoFeature); a database that is
// named but cannot be loaded stops the start.
func openGeo(ctx context.Context, cfg ipintel.Config, log *slog.Logger) (*ipintel.Service, error) {
	svc, err := ipintel.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_GEO_COUNTRY_DB, REFEDGE_GEO_ASN_DB: %w", err)
	}
	go svc.Watch(ctx, cfg.ReloadInterval)
	if !svc.Active() {
		log.Warn("network step off: clicks carry no country or ASN and data-centre networks are not refused", "why", svc.Status())
		return svc, nil
	}
	if err := svc.Status(); err != nil {
		log.Warn("network step partly off", "why", err)
	}
	log.Info("network step on", "databases", svc.Describe())
	return svc, nil
}

// geoFeature reports the IP databases under /readyz's features: "ok", or what is off.
func geoFeature(adm *admin.Server, svc *ipintel.Service) {
	adm.AddFeature("geo", func(context.Context) error { return svc.Status() })
}
