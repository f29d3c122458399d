# offsite: build, test, demo, lint, Nix checks, benchmarks, and the
# operator's runbook (docs/runbook.mk, documented in docs/runbook.md).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X 'main.Version=$(VERSION)'
GO      ?= go

.DEFAULT_GOAL := build
include docs/runbook.mk

.PHONY: build demo test test-short fuzz minio promtool rgw check-nix manifests vendor-hash vm-test bench deps lint clean

## build: the offsite binary in bin/, version from git
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/offsite ./cmd/offsite

## demo: mirror, offload and verify end to end on in-process S3 servers
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/offsite demo

## test: the Debian packages it needs (make deps), the fuzz targets, then the
## whole suite under the race detector against real MinIO and Ceph RGW servers,
## plus promtool's alert rule test and the offline Nix checks; a missing server
## or tool fails it, never skips, and so does a test secret anywhere in its
## output (.cache/test.log)
# deps comes first: the steps after it use its packages (make runs them in
# order; with -j, run make deps before).
test: deps lint fuzz minio promtool rgw check-nix
	OFFSITE_TEST_REQUIRE_S3=1 OFFSITE_TEST_REQUIRE_NIX=1 internal/harness/suite.sh -race -count=1 -timeout 40m ./...

## fuzz: each fuzz target for a number of inputs, about 10 s each here (FUZZTIME=30s or
## FUZZTIME=100000x for all); the corpus in testdata/fuzz runs with every go test too
# Counts, not durations: Go 1.26's fuzzer can fail a target with "context
# deadline exceeded" when a duration ends while a worker is busy
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?=
FUZZ_TARGETS := offload:FuzzParseSidecar:30000 offload:FuzzTrailerChecker:40000 offload:FuzzCheckZip:40000 \
	offload:FuzzParseRecipients:30000 rcloneconf:FuzzEndpoint:50000 rcloneconf:FuzzSecret:50000 \
	mirror:FuzzParseMaxDelete:50000 mirror:FuzzReportJSON:40000
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget='$(FUZZTIME)'; budget=$${budget:-$${rest#*:}x}; \
		echo "fuzz $$name ($$budget)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$budget" -timeout 5m ./$$pkg; \
	done

## test-short: unit tests only, no servers
test-short:
	$(GO) test -short -count=1 ./...

## minio: build the pinned MinIO server into .cache/bin (once, ~3 min) and check it starts
minio:
	OFFSITE_TEST_REQUIRE_S3=1 $(GO) test -count=1 -timeout 30m -run '^TestMinioStartStopStart$$' ./internal/harness

## promtool: build the pinned promtool into .cache/bin (once, a few minutes) and test the alert rules
promtool:
	OFFSITE_TEST_REQUIRE_S3=1 $(GO) test -count=1 -timeout 30m -run '^TestAlertRules$$' ./internal/monitor

## rgw: build the Ceph chroot (radosgw, mon, OSD) into .cache/rgw (once, about a minute; root and
## network) and check that the tests' cluster starts (one mon, one MemStore OSD, radosgw)
rgw:
	OFFSITE_TEST_REQUIRE_RGW=1 $(GO) test -count=1 -timeout 30m -run '^TestRGWStarts$$' ./internal/harness

## check-nix: offline checks of flake.nix and nix/, the units run in a container (root; make deps)
check-nix:
	nix/check.sh

## manifests: the rgw-mirror CronJobs and their Secrets, a JSON file each, into MANIFESTS_OUT (docs/deploy.md)
MANIFESTS_CONFIG ?= nix/k8s/examples/cluster.nix
SOPS_FILE        ?= nix/k8s/examples/secrets.example.json
MANIFESTS_OUT    ?= manifests
manifests:
	nix/k8s/manifests.sh "$(MANIFESTS_CONFIG)" "$(SOPS_FILE)" "$(MANIFESTS_OUT)"

## vendor-hash: refresh vendorHash in nix/package.nix after go.mod, go.sum or imports change
vendor-hash:
	nix/vendor-hash.sh --write

## vm-test: the NixOS VM test (needs Nix with network and KVM)
vm-test:
	nix build .#checks.x86_64-linux.offload -L

## bench: mirror and offload against the rclone CLI and mc (not run by CI; docs/benchmarks.md)
bench: minio
	$(GO) test -tags bench -count=1 -v -timeout 60m ./bench/...
	bash bench/mirror.sh

## deps: install the Debian packages the suite needs that are missing (as root;
## otherwise it prints the apt-get command); the list is in internal/harness/deps.sh
deps:
	internal/harness/deps.sh

# Shell scripts: *.sh, and tracked files whose first line is a sh or bash shebang.
SHELL_SCRIPTS = $(sort $(shell git ls-files '*.sh'; git grep -nI -E '^\#!.*[/ ](ba)?sh( |$$)' | sed -n 's/^\([^:]*\):1:.*/\1/p'))

## lint: gofmt, go vet and shellcheck (every shell script)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v shellcheck >/dev/null || { echo "shellcheck is not installed: make deps"; exit 1; }
	timeout 300 shellcheck $(SHELL_SCRIPTS)

## clean: remove build output and the test server cache
clean:
	rm -rf bin .cache
