# offsite: build, test, demo, lint, and the operator's runbook.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X 'main.Version=$(VERSION)'
GO      ?= go

.PHONY: build demo test test-short minio deps lint clean

## build: the offsite binary in bin/, version from git
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/offsite ./cmd/offsite

## demo: mirror, offload and verify end to end on in-process S3 servers
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/offsite demo

## test: the whole suite, against real servers; fails (never skips) when one is missing
test: lint minio
	OFFSITE_TEST_REQUIRE_S3=1 $(GO) test -count=1 -timeout 40m ./...

## test-short: unit tests only, no servers
test-short:
	$(GO) test -short -count=1 ./...

## minio: build the pinned MinIO server into .cache/bin (once) and check it starts
minio:
	OFFSITE_TEST_REQUIRE_S3=1 $(GO) test -count=1 -run '^TestMinioStartStopStart$$' ./internal/harness

## deps: the Debian packages the full suite needs (run as root, once per machine)
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		ca-certificates git make

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## clean: remove build output and the test server cache
clean:
	rm -rf bin .cache
