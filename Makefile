# Better-PaaS Updater. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/better-paas-updater
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS := ./...

.PHONY: help deps build test test-crash-matrix test-race test-short-fuzz test-release test-fast demo bench fuzz fmt vet lint test-cross verify release clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## Install what the demo and tests need beyond Go and git (Node.js, npm, pnpm, Chromium, ansible-core)
	@scripts/ensure-deps.sh

build: ## Build bin/better-paas-updater
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/better-paas-updater

# make test's go test -race runs as two processes at once: the crash matrix
# (TestCrashMatrix: two daemons and a real build per case) and all the rest,
# reconciler first, as its end-to-end tests are the longest. The matrix
# then runs beside the other tests instead of before them, 4 cases at a time
# because each case also waits on processes and health gates. The short
# fuzz runs, the cross-compiled builds of the four release targets and the
# reproducible-release check follow as each slot frees.
#
# Both long jobs need reconciler's test binary and, with it, most of the
# module and its dependencies compiled with -race. Two go commands do not
# share work in progress: started together, each compiles all of it. So
# make test compiles that binary first (-o /dev/null: only the build
# cache keeps it) and the two jobs find every package in the cache.
RACE := $(GO) test -race -count=1 -timeout 15m -tags faultinject

test: deps lint ## Run every test (CI): lint, -race, the crash matrix and fault tests (build tag faultinject), fuzz seeds, the four release targets
	$(RACE) -c -o /dev/null ./reconciler/
	$(MAKE) --no-print-directory -j2 --output-sync=line test-crash-matrix test-race test-short-fuzz test-cross test-release

# The fault points compiled out (no build tag), and 3 s of fuzzing each
# parser: make test starts it when the first of the two long jobs ends.
test-short-fuzz:
	$(GO) test -count=1 ./internal/fault/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDesired$$' -fuzztime 3s ./spec/
	$(GO) test -run '^$$' -fuzz '^FuzzParseStatus$$' -fuzztime 3s ./status/

test-crash-matrix:
	$(RACE) -parallel 4 -run '^TestCrashMatrix$$' ./reconciler/

# The two parsers' seed corpora (megabyte inputs, a single goroutine) run
# in test-short-fuzz, where go test -fuzz fails on any seed that fails, so
# the race detector does not run them a second time.
test-race:
	$(RACE) -skip '^(TestCrashMatrix|FuzzParseDesired|FuzzParseStatus|TestReleaseIsReproducible)$$' ./reconciler/ $(PKGS)

# make release twice gives identical bytes: eight cross-builds, which the
# race detector has nothing to add to. After test-cross, whose builds use
# the release's compile flags (-trimpath), so the packages are compiled once.
test-release: test-cross
	$(GO) test -count=1 -timeout 15m -run '^TestReleaseIsReproducible$$' ./scripts/release/

test-fast: ## Unit, table and package tests in under a minute (go test -short: no real builds; make test runs all)
	$(GO) test -short -count=1 -tags faultinject $(PKGS)

demo: deps ## Update the example app v1.0.0 -> v1.1.0, then watch v1.2.0 roll back
	$(GO) run ./examples/demo

# scripts/bench measures the updater beside the raw tools doing the same
# work in the same run (median, min and max of -runs), writes
# bench-results/results.json and results.md, and puts the table in README
# between its bench markers; then the Go benchmarks (backups, git, a fleet
# of 100 hosts) run. BENCHFLAGS=-only=Reaction runs one group.
bench: deps ## Benchmarks beside the raw tools (bench-results/, README's table), then the Go benchmarks
	@scripts/ensure-deps.sh rsync
	$(GO) run ./scripts/bench -out bench-results -readme README.md $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)

fuzz: ## Fuzz the desired.yaml and status.yaml parsers, 60s each (FUZZTIME=30s to change)
	$(GO) test -run '^$$' -fuzz '^FuzzParseDesired$$' -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 100x ./spec/
	$(GO) test -run '^$$' -fuzz '^FuzzParseStatus$$' -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 100x ./status/

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet $(PKGS)

# staticcheck is pinned: a new release may add checks, and a gate must not
# move under a commit that did not change.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The faultinject build differs from the plain one only in the packages
# holding files with that build tag: every other package's source is the
# same, and internal/fault has the same API in both builds (a package
# that used tag-only API would not build without the tag). So the second
# pass of vet and staticcheck looks at those packages alone, found anew
# each run, instead of type-checking the whole module twice.
FAULT_PKGS = $(shell git grep -l '^//go:build.*faultinject' -- '*.go' | xargs -r -n1 dirname | sort -u | sed 's|^|./|')

lint: ## gofmt, go vet and staticcheck (pinned) on both builds (with and without faultinject): zero findings
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags faultinject $(FAULT_PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run $(STATICCHECK) -tags faultinject $(FAULT_PKGS)

# The release targets (internal/release.Targets). Vet type-checks every
# package and its tests for an operating system, so Linux-only code that
# lacks a build-tagged fallback fails here, not on a Mac; one build per
# target links the binary too, with its dependencies' per-architecture
# code. Vet runs per operating system, not per target: linux/amd64 is
# vetted by make lint, darwin/amd64 here, and the arm64 targets would
# type-check the same files, since this module has none that depend on
# the architecture (a *_amd64.go, *_arm64.go or .s file, or a go:build
# line naming one). If one appears, ARCH_FILES makes every target vetted.
# Everything uses the release's -trimpath, so vet, the build and
# test-release's release builds compile each target's packages once.
CROSS_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
CROSS := CGO_ENABLED=0 $(GO)
ARCH_FILES = $(shell { git ls-files '*_amd64.go' '*_arm64.go' '*_amd64_test.go' '*_arm64_test.go' '*.s'; git grep -lE '^//go:build.*\b(amd64|arm64)\b' -- '*.go'; } | head -1)
CROSS_VET = $(if $(ARCH_FILES),linux/arm64 darwin/amd64 darwin/arm64,darwin/amd64)

test-cross: ## Cross-compile the four release targets (linux, darwin × amd64, arm64) and vet darwin, with and without faultinject
	@for t in $(CROSS_TARGETS); do \
		echo "test-cross $$t"; \
		export GOOS=$${t%/*} GOARCH=$${t#*/}; \
		case " $(CROSS_VET) " in *" $$t "*) \
			$(CROSS) vet -trimpath $(PKGS) && $(CROSS) vet -trimpath -tags faultinject $(FAULT_PKGS) || exit 1;; \
		esac; \
		$(CROSS) build -trimpath -buildvcs=false -o /dev/null ./cmd/better-paas-updater || exit 1; \
	done

verify: ## Fail if fmt or go mod tidy would change the tree
	$(MAKE) fmt
	$(GO) mod tidy
	@git diff --exit-code || { echo "verify: the tree changed: run make fmt and go mod tidy, then commit"; exit 1; }

# make release VERSION=v1.2.3 builds the release of the checked-out commit:
# four archives, SHA256SUMS and, with MINISIGN_KEY_FILE (and
# MINISIGN_PASSWORD for an encrypted key), SHA256SUMS.minisig. The same
# commit and key give the same bytes (scripts/release/main.go says how).
# VERSION must be given: the default above (git describe) is not a release.
release: ## Cross-compile, archive, checksum and sign (MINISIGN_KEY_FILE) a release into dist/
	@if [ "$(origin VERSION)" != "command line" ] && [ "$(origin VERSION)" != "environment" ]; then \
		echo "make release: give the version: make release VERSION=v1.2.3"; exit 1; fi
	rm -rf dist
	$(GO) run ./scripts/release -version '$(VERSION)' -out dist

clean: ## Remove build outputs
	rm -rf bin dist
