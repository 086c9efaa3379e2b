package main

import (
	"strings"

	"github.com/refedge/refedge/deploy/envdoc"
	"github.com/refedge/refedge/internal/envvar"
)

// devConfig is what the development commands read besides the process's variables.
type devConfig struct{ MarketAddr, KafkaDataDir string }

// devVars are the development commands' own variables (dev-market, kafka-dev).
var devVars = envvar.Table[devConfig]{Part: "development", Strict: true, Vars: []envvar.Var[devConfig]{
	{Name: "REFEDGE_DEV_MARKET_ADDR", Default: "127.0.0.1:8090", Help: "where `refedge dev-market` listens",
		Set: envvar.String(func(c *devConfig) *string { return &c.MarketAddr })},
	{Name: "REFEDGE_KAFKA_DATA_DIR", Default: "", Help: "folder where `refedge kafka-dev` keeps the broker's log across restarts; empty: memory only",
		Set: envvar.String(func(c *devConfig) *string { return &c.KafkaDataDir })},
}}

// helpText is --help: the commands, then every variable from the tables that read them.
func helpText() string {
	var b strings.Builder
	b.WriteString(usage)
	b.WriteString(envvar.Help(envdoc.Process()))
	b.WriteString("\nOptional tunables of each part (all have defaults):\n")
	b.WriteString(envvar.Help(envdoc.Parts()))
	b.WriteString("\nDevelopment commands:\n")
	b.WriteString(envvar.Help(devVars.Docs()))
	return b.String()
}
