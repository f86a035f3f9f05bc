# flowsieve — see README.md. Every target works on a fresh machine with Go 1.26.
GO       ?= go
BIN      := bin/flowsieve
PKGS     := ./...
FUZZTIME ?= 10s
STATICCHECK_VERSION := v0.8.2

.PHONY: all build run demo test test-unit test-e2e bench bench-e2e fuzz lint clean

all: build

# The same build as the Dockerfile's, so the binary the tests run (test/,
# deploy/) comes out of the build cache instead of a second cold compile;
# only the link differs, by the version stamps. `flowsieve version` and the
# flowsieve_build_info gauge show them; -buildvcs=auto also keeps the VCS
# revision in the build info where git can give it.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS    := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
              -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
BUILDFLAGS := -trimpath -buildvcs=auto -ldflags="$(LDFLAGS)"

build:
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/flowsieve

# The pipeline on an embedded Kafka broker (127.0.0.1:9092) with the sample
# config and rules in config/.
run: build
	./$(BIN) run --config config/flowsieve.yaml

# Embedded broker + pipeline + synthetic load generator together.
demo: build
	./$(BIN) run --config config/flowsieve.yaml --demo

# deploy/ is a module of its own (its tests need compose-go, k8s.io/api and
# Prometheus, which the binary does not): every target that tests or lints
# the product does the same in deploy/. deploy/web/gencerts, a module with
# no dependencies (compose runs it with `go run`), is vetted likewise; the
# deploy tests run it.
DEPLOY := deploy
GENCERTS := deploy/web/gencerts

test: build
	$(GO) test -race -count=1 -timeout 12m $(PKGS)
	cd $(DEPLOY) && $(GO) test -race -count=1 -timeout 12m ./...

test-unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test)
	cd $(DEPLOY) && $(GO) test -race -count=1 ./...

test-e2e:
	$(GO) test -race -count=1 -timeout 12m ./test/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /test)

# End-to-end throughput against a copy pipeline on an embedded broker;
# e.g. make bench-e2e BENCH_ARGS='-n 200000 --format text'.
bench-e2e: build
	./$(BIN) bench $(BENCH_ARGS)

# A short run of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd $(DEPLOY) && $(GO) vet ./...
	cd $(GENCERTS) && $(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)
	cd $(DEPLOY) && PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	cd $(GENCERTS) && PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

clean:
	rm -rf bin data
