# mqflux — `make run` starts the server, `make test` runs every test against
# real components. `make help` lists the targets.

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
CONFIG   ?= config.yaml
INFLUXD_VERSION := v1.8.10
# VictoriaMetrics, a second store the tests write to (internal/testenv
# VictoriaMetricsVersion names the same release).
VM_VERSION := v1.151.0
FUZZTIME ?= 15s
# nats-server, the JetStream cluster of the nats input's tests
# (internal/testenv/nats.go).
NATS_SERVER_VERSION := v2.15.3
# Emulators of the dumps' cloud stores (internal/testenv AzuriteVersion,
# FakeGCSVersion). Defined before the tools rule: make expands a rule's
# prerequisites as it reads it, so a later definition would leave them out.
AZURITE_VERSION  := 3.37.0
FAKE_GCS_VERSION := v1.56.1
AZURITE          := $(BIN)/azurite/node_modules/.bin/azurite-blob



.PHONY: help build run test test-go fuzz vet tools device bench bench-compare bench-stalled clean console-vendor mochi-check mochi-patch mochi-standalone

help:
	@echo "make run            build and start mqflux serve with $(CONFIG) (starts a local InfluxDB if none answers)"
	@echo "make test           go vet, every test with -race against real InfluxDB and mosquitto, short fuzzing"
	@echo "make build          bin/mqflux and bin/mqflux-device for this machine"
	@echo "make device         the device agent for Raspberry Pis: linux/arm GOARM=6, 7 and linux/arm64 in dist/"
	@echo "make tools          the servers the tests start, into bin/: InfluxDB $(INFLUXD_VERSION), VictoriaMetrics $(VM_VERSION), nats-server $(NATS_SERVER_VERSION), SeaweedFS, DuckDB, Azurite $(AZURITE_VERSION), fake-gcs-server $(FAKE_GCS_VERSION) (make run needs only influxd; 10-15 minutes the first time)"
	@echo "make fuzz           run each fuzz target for FUZZTIME ($(FUZZTIME))"
	@echo "make bench-compare  mqflux vs Mosquitto + Telegraf, see BENCHMARKS.md"
	@echo "make bench-stalled  publishers beside stalled subscribers, mqflux and Mosquitto"
	@echo "make console-vendor refresh the console's vendored uPlot from npm (UPLOT_VERSION)"
	@echo "make mochi-check    the vendored MQTT broker is mochi-mqtt/server + its patches, byte for byte (part of make test)"
	@echo "make mochi-patch    the vendored broker's edits since the last patch as the next patch (NAME=short-name optional)"
	@echo "make mochi-standalone each Upstream-ready broker patch alone on the release with the tests it names (FULL=1: whole packages)"
	@echo "make clean          remove bin/, dist/ and var/"

build:
	@mkdir -p $(BIN)
	$(BUILD) -o $(BIN)/ ./cmd/...

run: build
	@deploy/run-local.sh $(BIN) $(CONFIG)

tools: $(BIN)/influxd $(BIN)/victoria-metrics $(BIN)/nats-server $(BIN)/weed $(BIN)/duckdb/node_modules/@duckdb/node-api/package.json $(AZURITE) $(BIN)/fake-gcs-server

$(BIN)/influxd:
	@mkdir -p $(BIN)
	@echo "building influxd $(INFLUXD_VERSION) into $(BIN) (about two minutes the first time)"
	cd /tmp && GOBIN=$(BIN) GOFLAGS=-buildvcs=false $(GO) install github.com/influxdata/influxdb/cmd/influxd@$(INFLUXD_VERSION)

$(BIN)/nats-server:
	@mkdir -p $(BIN)
	@echo "building nats-server $(NATS_SERVER_VERSION) into $(BIN) (under a minute)"
	cd /tmp && GOBIN=$(BIN) GOFLAGS=-buildvcs=false $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

$(BIN)/victoria-metrics:
	@mkdir -p $(BIN)
	@echo "building victoria-metrics $(VM_VERSION) into $(BIN) (about four minutes the first time)"
	cd /tmp && GOBIN=$(BIN) GOFLAGS=-buildvcs=false $(GO) install github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$(VM_VERSION)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

test: tools vet mochi-check test-go fuzz

test-go:
	$(GO) test -race -timeout 40m ./...
	@# The patched parts of the vendored MQTT broker (third_party/mochi-mqtt-server/PATCHES.md).
	cd third_party/mochi-mqtt-server && $(GO) test -race -count=1 \
	  -run 'Inflight|NextImmediate|ClearExpiredInflights|ResendInflight|TestDBSharesTheStore|OutboundQueue|PublishToClientStartsTheWriter|Qos1Ack|ReadBuffer|PublishHandlingLeaves|PacketRunner|HandleAndFlush|IdleClientHolds|ConnectValidateReceiveMaximumZero|WriteLock|DroppedDeliveriesAllocate|StalledClientIsPaused|PausedClientUnsubscribes|MatchFilterAgrees|PausingLosesNoPublish|WebsocketConnGivesItsNetConn|ConcurrentDeliveriesKeepTheWindow|DeliveryHeldForTheSendQuota|DeliveryAllocations|GoneClientOnThePausedList|PubackOfADelivery|PubackForAnUnknownID|NextPacketIDFollowsDeliveries|DecodedPacketsKeepTheirBytes|Window|SubscribeIDAgainst|UnsubscribeIDAgainst|SubscribeIDInUse|KeepTheSendQuota|PacketIDInUse|Pubrel|InboundQos2Flow|InboundPublishLeaves|DeliveryToAGoneClient|LiveDeliveryWaits|HeldCount|DeliveriesDuringAResend|DeliveriesDuringATakeover|CleanTakeover|QueuedFormHolds|OnlyAPublishIsQueueable|EmptyChecksSeeEveryField|AbsentSessionQueues|ReleasedMessageIsQueued' \
	  . ./hooks/storage/pebble ./packets ./listeners

# Each target runs for FUZZTIME; the seed corpora also run in test-go.
fuzz:
	@set -e; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
	    echo "fuzz $$t $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$t || exit 1; \
	  done; \
	done

device:
	@mkdir -p dist
	GOOS=linux GOARCH=arm GOARM=6 $(BUILD) -o dist/mqflux-device-linux-armv6 ./cmd/mqflux-device
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o dist/mqflux-device-linux-armv7 ./cmd/mqflux-device
	GOOS=linux GOARCH=arm64 $(BUILD) -o dist/mqflux-device-linux-arm64 ./cmd/mqflux-device
	@ls -l dist/

# mqflux vs Mosquitto + Telegraf on this machine, one after the other, RUNS
# times (BENCHMARKS.md). Needs bin/telegraf:
#   GOBIN=$(BIN) go install -tags custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2 \
#     github.com/influxdata/telegraf/cmd/telegraf@v1.37.2
# Publishers beside subscribers that stopped reading, mqflux and Mosquitto.
bench-stalled: tools
	bench/stalled/run.sh

bench-compare: build tools
	@test -x $(BIN)/telegraf || { echo "bin/telegraf missing: see the go install line above this recipe in the Makefile"; exit 1; }
	bench/compare/compare.sh compare

# The console's one vendored library, pinned; refreshing needs npm, building
# and running mqflux do not.
UPLOT_VERSION ?= 1.6.32
UPLOT_DIR     := server/console/assets/vendor/uplot
console-vendor:
	@set -e; tmp=$$(mktemp -d); cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz; \
	cd $(CURDIR) && cp $$tmp/package/dist/uPlot.esm.js $$tmp/package/dist/uPlot.min.css $$tmp/package/LICENSE $(UPLOT_DIR)/ && \
	echo "uPlot $(UPLOT_VERSION) from npm (uplot@$(UPLOT_VERSION)); refresh with make console-vendor." > $(UPLOT_DIR)/VERSION; rm -rf $$tmp

# The vendored MQTT broker is the upstream release + the patches under
# third_party/mochi-mqtt-server/patches (its README.md: adding one).
MOCHIPATCH := $(GO) run ./internal/tools/mochipatch
mochi-check:
	$(MOCHIPATCH) check

mochi-patch:
	$(MOCHIPATCH) add $(if $(NAME),-name $(NAME))

mochi-standalone:
	$(MOCHIPATCH) standalone $(if $(FULL),-full)

clean:
	rm -rf $(BIN) dist var

# Daily dumps (flow/dump) are tested against a real S3-compatible server,
# SeaweedFS's weed (internal/testenv SeaweedFSVersion names the same
# commit), and read back by DuckDB through its Node package (internal/testenv
# DuckDBNodeAPIVersion). weed's go.mod has replace directives, which
# `go install pkg@version` refuses, so it is built inside its module.
SEAWEEDFS_VERSION   := v0.0.0-20261109003541-7506e5f91cd6
DUCKDB_NODE_VERSION := 1.5.6-r.1
DUCKDB_NODE         := $(BIN)/duckdb/node_modules/@duckdb/node-api/package.json

$(BIN)/weed:
	@mkdir -p $(BIN)
	@echo "building weed (SeaweedFS $(SEAWEEDFS_VERSION)) into $(BIN)"
	@set -e; dir=$$(cd /tmp && $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  cd "$$dir" && GOFLAGS=-buildvcs=false $(GO) build -trimpath -o $(BIN)/weed ./weed

$(DUCKDB_NODE):
	@mkdir -p $(BIN)/duckdb
	@echo "installing @duckdb/node-api $(DUCKDB_NODE_VERSION) into $(BIN)/duckdb"
	npm install --silent --no-audit --no-fund --prefix $(BIN)/duckdb @duckdb/node-api@$(DUCKDB_NODE_VERSION)

# Dumps to Azure Blob Storage and Google Cloud Storage are tested against
# emulators: Azurite, Microsoft's (npm; internal/testenv AzuriteVersion),
# and fake-gcs-server (internal/testenv FakeGCSVersion).

$(AZURITE):
	@mkdir -p $(BIN)/azurite
	@echo "installing azurite $(AZURITE_VERSION) into $(BIN)/azurite"
	npm install --silent --no-audit --no-fund --prefix $(BIN)/azurite azurite@$(AZURITE_VERSION)

$(BIN)/fake-gcs-server:
	@mkdir -p $(BIN)
	@echo "building fake-gcs-server $(FAKE_GCS_VERSION) into $(BIN)"
	cd /tmp && GOBIN=$(BIN) GOFLAGS=-buildvcs=false $(GO) install github.com/fsouza/fake-gcs-server@$(FAKE_GCS_VERSION)
