// Package compose holds refedge's docker compose stack (docker-compose.yml) and its image
// (Dockerfile). Docker does not run on the test machines: the package's test validates
// the stack with `docker-compose config` (Debian's docker-compose), loads each refedge
// service's environment through refedge's own configuration, and checks that the nginx
// service fills exactly the template's placeholders and that the binary builds without
// cgo (a static binary for the distroless image).
package compose
