package ipintel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	reloadsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_geo_reloads_total", Help: "Reloads of the country and ASN databases by result (ok, error).",
	}, []string{"result"})
	loadedAt = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "refedge_geo_loaded_timestamp_seconds", Help: "When the country and ASN databases in use were loaded (0: none).",
	})
	loaded = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_geo_loaded", Help: "1 when the database (country, asn) is loaded and lookups use it; 0 when it is not configured or never loaded.",
	}, []string{"database"})
	reloadFailed = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "refedge_geo_reload_failed", Help: "1 while the last reload of the IP databases failed (the databases loaded before stay in use); 0 after one works.",
	})
)

// setLoaded exports which databases d holds (nil: none).
func setLoaded(d *dataset) {
	country, asn := 0.0, 0.0
	if d != nil && d.country != nil {
		country = 1
	}
	if d != nil && d.asn != nil {
		asn = 1
	}
	loaded.WithLabelValues("country").Set(country)
	loaded.WithLabelValues("asn").Set(asn)
}

// Config says where the databases are and what the operator allows and denies.
type Config struct {
	// CountryDB is a .mmdb file with country codes; empty: no country.
	CountryDB string
	// ASNDBs are CSV files of AS ranges (IPv4 and IPv6); empty: no ASN, and only the
	// deny CIDRs can mark a data centre.
	ASNDBs []string
	// Lists are the operator's allow and deny lists.
	Lists Lists
	// Curated replaces the embedded data-centre list when not nil (tests).
	Curated []DatacenterASN
	// ReloadInterval is how often Watch checks the files for a change.
	ReloadInterval time.Duration
}

// Info is what the network says about one address. The strings are shared with the
// loaded databases: an Info costs no allocation and stays valid after a reload.
type Info struct {
	Country    string // ISO 3166-1 alpha-2, "" when unknown
	ASN        uint32 // 0 when unknown
	Org        string // the AS's organisation, "" when unknown
	Datacenter bool   // a data centre's network (curated list or deny lists, not allowed)
}

// dataset is one load of the databases; a reload builds a new one and swaps it in.
type dataset struct {
	country *countryDB
	asn     *asnDB
	files   []fileStamp
	loaded  time.Time
	took    time.Duration
}

type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
}

// Service answers lookups from the databases it loaded last. The zero Service and a nil
// *Service answer every lookup with a zero Info.
type Service struct {
	cfg    Config
	policy *policy
	log    *slog.Logger
	data   atomic.Pointer[dataset]

	mu      sync.Mutex // serialises reloads
	lastErr atomic.Pointer[string]
}

// New loads the databases cfg names. A file that is named but cannot be read is an
// error: the operator asked for it. With no file named, the service still applies the
// deny CIDRs, and Status says what is off.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	curated := cfg.Curated
	if curated == nil {
		var err error
		if curated, err = CuratedDatacenters(); err != nil {
			return nil, err
		}
	}
	s := &Service{cfg: cfg, policy: newPolicy(curated, cfg.Lists), log: log}
	if cfg.CountryDB == "" && len(cfg.ASNDBs) == 0 {
		setLoaded(nil)
		reloadFailed.Set(0)
		return s, nil
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Lookup returns what the databases say about ip. It allocates nothing.
func (s *Service) Lookup(ip netip.Addr) Info {
	if s == nil || !ip.IsValid() {
		return Info{}
	}
	ip = ip.Unmap()
	var in Info
	if d := s.data.Load(); d != nil {
		if d.country != nil {
			in.Country = d.country.lookup(ip)
		}
		if d.asn != nil {
			in.ASN, in.Org = d.asn.lookup(ip)
		}
	}
	if s.policy != nil {
		in.Datacenter = s.policy.datacenter(ip, in.ASN)
	}
	return in
}

// ASName returns the organisation that holds AS asn in the loaded ASN data, or "" when
// no data is loaded or the AS is in none of its ranges.
func (s *Service) ASName(asn uint32) string {
	if s == nil {
		return ""
	}
	if d := s.data.Load(); d != nil && d.asn != nil {
		return d.asn.name(asn)
	}
	return ""
}

// Active reports whether a lookup can tell anything: a database is loaded or the
// operator listed networks to deny.
func (s *Service) Active() bool {
	return s != nil && (s.data.Load() != nil || s.policy != nil && !s.policy.denyNet.empty())
}

// Reload reads the configured files again and swaps the new databases in. On error the
// databases in use stay, and Status reports the error until a reload succeeds.
func (s *Service) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.reload()
	if err != nil {
		reloadsTotal.WithLabelValues("error").Inc()
		reloadFailed.Set(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		return err
	}
	reloadsTotal.WithLabelValues("ok").Inc()
	reloadFailed.Set(0)
	s.lastErr.Store(nil)
	return nil
}

func (s *Service) reload() error {
	start := time.Now()
	stamps, err := stat(s.files())
	if err != nil {
		return err
	}
	d := &dataset{files: stamps}
	if s.cfg.CountryDB != "" {
		if d.country, err = loadCountry(s.cfg.CountryDB); err != nil {
			return fmt.Errorf("country database: %w", err)
		}
	}
	if len(s.cfg.ASNDBs) > 0 {
		if d.asn, err = loadASN(s.cfg.ASNDBs); err != nil {
			return fmt.Errorf("ASN database: %w", err)
		}
	}
	d.loaded, d.took = time.Now(), time.Since(start)
	s.data.Store(d)
	loadedAt.Set(float64(d.loaded.Unix()))
	setLoaded(d)
	attrs := []any{"took", d.took.Round(time.Millisecond)}
	if d.asn != nil {
		attrs = append(attrs, "asn_ranges_v4", len(d.asn.ranges.v4), "asn_ranges_v6", len(d.asn.ranges.v6), "as_organisations", len(d.asn.orgs)-1, "overlapping_ranges_cut", d.asn.overlaps)
	}
	if d.country != nil {
		attrs = append(attrs, "country_networks", d.country.networks, "country_ranges", len(d.country.ranges.v4)+len(d.country.ranges.v6))
	}
	s.log.Info("IP databases loaded", attrs...)
	return nil
}

func (s *Service) files() []string {
	var out []string
	if s.cfg.CountryDB != "" {
		out = append(out, s.cfg.CountryDB)
	}
	return append(out, s.cfg.ASNDBs...)
}

func stat(paths []string) ([]fileStamp, error) {
	out := make([]fileStamp, 0, len(paths))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a folder, not a database file", p)
		}
		out = append(out, fileStamp{p, fi.Size(), fi.ModTime()})
	}
	return out, nil
}

// changed reports whether a database file differs from the one loaded.
func (s *Service) changed() bool {
	d := s.data.Load()
	now, err := stat(s.files())
	if err != nil {
		return false // a file being replaced; the next poll sees the new one
	}
	return d == nil || !slices.Equal(now, d.files)
}

// Watch reloads the databases on SIGHUP, and when a file's size or modification time
// changes (checked every interval), until ctx ends. Replace a file by renaming a
// complete new one over it: a file read while it is being written fails to load, the
// old databases stay, and the next check tries again.
//
// With no database configured, SIGHUP is still taken (and only logged), so that the
// signal never stops the process whether or not databases are set.
func (s *Service) Watch(ctx context.Context, interval time.Duration) {
	if s == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if len(s.files()) == 0 {
				s.log.Info("SIGHUP: no IP database is configured; nothing to reload")
				continue
			}
			s.log.Info("SIGHUP: reloading the IP databases")
		case <-tick.C:
			if len(s.files()) == 0 || !s.changed() {
				continue
			}
			s.log.Info("an IP database file changed: reloading")
		}
		if err := s.Reload(); err != nil {
			s.log.Error("cannot reload the IP databases; the ones loaded before stay in use", "err", err)
		}
	}
}

// ErrOff is Status's error when no database is configured.
var ErrOff = errors.New("off: no REFEDGE_GEO_COUNTRY_DB or REFEDGE_GEO_ASN_DB; clicks carry no country or ASN and no data-centre check runs")

// Status describes the service for /readyz: nil when every configured database is
// loaded and the last reload worked.
func (s *Service) Status() error {
	if s == nil || len(s.files()) == 0 {
		if s != nil && !s.policy.denyNet.empty() {
			return errors.New("partly off: no database configured, only REFEDGE_GEO_DENY_CIDRS applies")
		}
		return ErrOff
	}
	if e := s.lastErr.Load(); e != nil {
		return fmt.Errorf("last reload failed (the databases loaded before stay in use): %s", *e)
	}
	return nil
}

// Describe is a one-line summary of what is loaded, for the start-up log.
func (s *Service) Describe() string {
	d := s.data.Load()
	if d == nil {
		return "no database"
	}
	out := ""
	if d.country != nil {
		out += fmt.Sprintf("country: %d networks in %d ranges, %d countries; ", d.country.networks, len(d.country.ranges.v4)+len(d.country.ranges.v6), len(d.country.codes)-1)
	}
	if d.asn != nil {
		out += fmt.Sprintf("ASN %d IPv4 and %d IPv6 ranges, %d organisations; ", len(d.asn.ranges.v4), len(d.asn.ranges.v6), len(d.asn.orgs)-1)
	}
	return out + fmt.Sprintf("loaded in %s", d.took.Round(time.Millisecond))
}
