package ipintel

import (
	"strings"
	"time"

	"github.com/refedge/refedge/internal/envvar"
)

// NewDefaultConfig returns a Config with no databases (the step is off) and the
// default reload interval.
func NewDefaultConfig() Config { return Config{ReloadInterval: time.Minute} }

// Vars are the network step's variables; LoadEnv reads them.
var Vars = envvar.Table[Config]{Part: "geo", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_GEO_COUNTRY_DB", Default: "", Help: "MaxMind-format (.mmdb) country database; clicks record the client's country (deploy/scripts/geo-data.sh installs one); empty: no country", Set: func(c *Config, v string) error {
		c.CountryDB = v
		return nil
	}},
	{Name: "REFEDGE_GEO_ASN_DB", Default: "", Help: "comma-separated CSV files of IP ranges to AS number and organisation (IPv4, IPv6); clicks record the ASN and data-centre networks are refused; empty: no ASN check", Set: func(c *Config, v string) error {
		c.ASNDBs = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.ASNDBs = append(c.ASNDBs, f)
			}
		}
		return nil
	}},
	{Name: "REFEDGE_GEO_DENY_CIDRS", Default: "", Help: "CIDRs whose clicks are refused as data-centre traffic, besides the curated ASN list (comma- or space-separated)", Set: func(c *Config, v string) (err error) {
		c.Lists.DenyCIDRs, err = ParseCIDRs(v)
		return err
	}},
	{Name: "REFEDGE_GEO_DENY_ASNS", Default: "", Help: "AS numbers (16509 or AS16509) whose clicks are refused as data-centre traffic, besides the curated list", Set: func(c *Config, v string) (err error) {
		c.Lists.DenyASNs, err = ParseASNs(v)
		return err
	}},
	{Name: "REFEDGE_GEO_ALLOW_CIDRS", Default: "", Help: "CIDRs never refused as data-centre traffic, whatever the deny lists and the curated list say (a partner's office on a hosting network, a monitoring range the program pays for)", Set: func(c *Config, v string) (err error) {
		c.Lists.AllowCIDRs, err = ParseCIDRs(v)
		return err
	}},
	{Name: "REFEDGE_GEO_ALLOW_ASNS", Default: "", Help: "AS numbers never refused as data-centre traffic; allow wins over deny", Set: func(c *Config, v string) (err error) {
		c.Lists.AllowASNs, err = ParseASNs(v)
		return err
	}},
	{Name: "REFEDGE_GEO_RELOAD_INTERVAL", Default: "1m", Help: "how often the IP database files are checked for a change and reloaded (SIGHUP reloads at once), 1s to 24h", Set: envvar.Duration(func(c *Config) *time.Duration { return &c.ReloadInterval }, time.Second, 24*time.Hour)},
}}

// LoadEnv reads the REFEDGE_GEO_* variables that are set into c, collecting every
// problem; each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }
