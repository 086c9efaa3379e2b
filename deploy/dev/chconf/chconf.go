// Package chconf holds the ClickHouse 18.16 server configuration of development and
// tests: deploy/dev/services.sh renders the XML files with sed for the shared servers,
// internal/testenv with Render for the private servers a test stops and restarts.
package chconf

import (
	_ "embed"
	"strings"
)

var (
	//go:embed config.xml
	configXML string
	//go:embed users.xml
	usersXML string
)

// Render returns config.xml for a server keeping its data under dir and listening on
// host at the native and HTTP ports, and users.xml (user default, no password,
// loopback only).
func Render(dir, host, tcpPort, httpPort string) (config, users string) {
	return strings.NewReplacer("{{DIR}}", dir, "{{HOST}}", host, "{{TCP_PORT}}", tcpPort, "{{HTTP_PORT}}", httpPort).
		Replace(configXML), usersXML
}
