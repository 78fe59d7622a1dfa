# Better-PaaS Updater. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/better-paas-updater
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS := ./...

.PHONY: help deps build test test-crash-matrix test-race test-short-fuzz test-fast demo bench fuzz fmt vet lint verify release clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## Install what the demo and tests need beyond Go and git (Node.js, npm, pnpm, Chromium)
	@scripts/ensure-deps.sh

build: ## Build bin/better-paas-updater
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/better-paas-updater

# make test's go test -race runs as two processes at once: the crash matrix
# (TestCrashMatrix: two daemons and a real build per case) and all the rest,
# reconciler first, as its end-to-end tests are the longest. The matrix
# then runs beside the other tests instead of before them, 4 cases at a time
# because each case also waits on processes and health gates.
RACE := $(GO) test -race -count=1 -timeout 15m -tags faultinject

test: deps lint ## Run every test (CI): lint, -race, the crash matrix and fault tests (build tag faultinject), fuzz seeds
	$(MAKE) --no-print-directory -j2 --output-sync=line test-crash-matrix test-race test-short-fuzz

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
	$(RACE) -skip '^(TestCrashMatrix|FuzzParseDesired|FuzzParseStatus)$$' ./reconciler/ $(PKGS)

test-fast: ## Unit, table and package tests in under a minute (go test -short: no real builds; make test runs all)
	$(GO) test -short -count=1 -tags faultinject $(PKGS)

demo: deps ## Update the example app v1.0.0 -> v1.1.0, then watch v1.2.0 roll back
	$(GO) run ./examples/demo

bench: deps ## Benchmarks, printed as ratios against baselines measured in the same run
	@scripts/ensure-deps.sh rsync
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

lint: ## gofmt, go vet and staticcheck (pinned) on both builds (with and without faultinject): zero findings
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags faultinject $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run $(STATICCHECK) -tags faultinject $(PKGS)

verify: ## Fail if fmt or go mod tidy would change the tree
	$(MAKE) fmt
	$(GO) mod tidy
	@git diff --exit-code || { echo "verify: the tree changed: run make fmt and go mod tidy, then commit"; exit 1; }

release: ## Cross-compile for Linux and macOS (amd64, arm64) into dist/ with SHA256SUMS
	@rm -rf dist && mkdir -p dist
	@for os in linux darwin; do for arch in amd64 arm64; do \
		echo "build $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o dist/better-paas-updater-$$os-$$arch ./cmd/better-paas-updater || exit 1; \
	done; done
	cd dist && sha256sum better-paas-updater-* > SHA256SUMS

clean: ## Remove build outputs
	rm -rf bin dist
